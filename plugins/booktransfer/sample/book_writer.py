"""Streams a sample book into the drop folder, household by household, injecting planned defects."""

import random
from pathlib import Path

from booktransfer.sample.consents import consent_events
from booktransfer.sample.defects import SHARES_NOT_100, DefectPlanner
from booktransfer.sample.drop_writer import DataFileWriter
from booktransfer.sample.ground_truth import TruthLog
from booktransfer.sample.households import HouseholdBuilder
from booktransfer.sample.identifiers import Serial, evidence_number
from booktransfer.sample.layout import (
    BENEFICIARY_ROLE,
    COLUMNS,
    CONSENT_FILE,
    CONTRACT_FILE,
    DATA_FILES,
    INSURED_ROLE,
    PARTY_FILE,
    PERSON_FILE,
)
from booktransfer.sample.name_pools import build_name_pools
from booktransfer.sample.people import Household, Person, relation_to_holder
from booktransfer.sample.policies import Policy, household_policies


class BookWriter:
    """Owns the four data files, the serial numbers, the defect planner and the ground truth."""

    def __init__(self, out_dir: Path, customers: int, seed: int, defect_rate: float, encoding: str) -> None:
        """Open the data files in ``out_dir``; everything random derives from ``seed``."""
        self._rng = random.Random(seed)
        self._customer_numbers = Serial("C", 9)
        self._cont_numbers = Serial("P", 11)
        self._log_numbers = Serial("A", 10)
        self._planner = DefectPlanner(defect_rate, seed)
        self.truth = TruthLog() if defect_rate > 0 else None
        self._builder = HouseholdBuilder(
            self._rng, build_name_pools(seed), self._customer_numbers, self._planner, customers
        )
        self._files: dict[str, DataFileWriter] = {}
        for name in DATA_FILES:
            self._files[name] = DataFileWriter(out_dir / name, COLUMNS[name], encoding)
        self.customers = 0

    def write_household(self, limit: int) -> int:
        """Write the next household (at most ``limit`` customers); return how many customers it had."""
        household: Household = self._builder.build(limit)
        members = household.members
        for person in members:
            self._write_person(person)
        for policy in household_policies(self._rng, household):
            self._write_policy(policy)
        self.customers += len(members)
        return len(members)

    def _write_person(self, person: Person) -> None:
        """Write the customer row and the customer's consent events."""
        row = person.row()
        if person.defect:
            column = self._planner.damage_person(row, person)
        line = self._files[PERSON_FILE].write(row)
        if person.defect:
            self._record(PERSON_FILE, line, person.customer_no, column, person.defect)
        elif person.has_resident_id:
            self._planner.offer_duplicate_source(person)
        if person.is_individual:
            self._write_consents(person)

    def _write_consents(self, person: Person) -> None:
        """Write the consent history of an individual customer."""
        writer = self._files[CONSENT_FILE]
        for event in consent_events(self._rng, person.make_date):
            log_no = self._log_numbers.next()
            evidence = evidence_number(self._log_numbers.issued)
            row = [
                log_no,
                person.customer_no,
                event.auth_type,
                event.flag,
                event.auth_time(),
                event.channel,
                evidence,
            ]
            defect = self._planner.consent_defect()
            column = self._planner.damage_consent(row) if defect else ""
            line = writer.write(row)
            if defect:
                self._record(CONSENT_FILE, line, log_no, column, defect)

    def _write_policy(self, policy: Policy) -> None:
        """Write the policy row, its insured row and its beneficiary rows."""
        cont_no = self._cont_numbers.next()
        row = policy.row(cont_no)
        defect = self._planner.contract_defect()
        if defect:
            column = self._planner.damage_contract(row, defect, policy.issued, self._customer_numbers.next)
        line = self._files[CONTRACT_FILE].write(row)
        if defect:
            self._record(CONTRACT_FILE, line, cont_no, column, defect)
        relation = relation_to_holder(policy.insured, policy.holder)
        self._files[PARTY_FILE].write([cont_no, policy.insured.customer_no, INSURED_ROLE, relation, "", ""])
        for grade in sorted({b.grade for b in policy.beneficiaries}):
            self._write_beneficiaries(cont_no, policy, grade)

    def _write_beneficiaries(self, cont_no: str, policy: Policy, grade: str) -> None:
        """Write the beneficiary rows of one grade, spoiling their shares if the planner says so."""
        group = [b for b in policy.beneficiaries if b.grade == grade]
        lots = [b.lot for b in group]
        spoilt = self._planner.spoil_shares()
        if spoilt:
            lots = self._planner.damage_shares(lots)
        writer = self._files[PARTY_FILE]
        for beneficiary, lot in zip(group, lots, strict=True):
            person = beneficiary.person
            relation = relation_to_holder(person, policy.holder)
            line = writer.write([cont_no, person.customer_no, BENEFICIARY_ROLE, relation, grade, str(lot)])
            if spoilt:
                key = f"{cont_no}|{person.customer_no}|{BENEFICIARY_ROLE}"
                self._record(PARTY_FILE, line, key, "BnfLot", SHARES_NOT_100)

    def _record(self, file: str, line: int, key: str, column: str, defect: str) -> None:
        """Add a ground-truth record."""
        if self.truth is None:
            raise RuntimeError("a defect was injected into a book without ground truth")
        self.truth.record(file, line, key, column, defect)

    def close(self) -> dict[str, int]:
        """Close the data files and return their data row counts."""
        for writer in self._files.values():
            writer.close()
        return {name: writer.rows for name, writer in self._files.items()}

    def discard_truth(self) -> None:
        """Release the ground-truth spools without saving them."""
        if self.truth is not None:
            self.truth.close()
