"""Pools of names, company names and street names, drawn once from Faker ``zh_CN`` and then reused.

Faker is slow per call, so the generator never calls it per row: it builds these pools once per book
(seeded, hence reproducible) and picks from them with its own random generator.
"""

import random
from dataclasses import dataclass

POOL_SIZE = 3000

# Uyghur-style given names; full names are "given·father's given name" (U+00B7 separator).
MINORITY_MALE = (
    "买买提",
    "艾尔肯",
    "阿不都拉",
    "热合曼",
    "艾力",
    "吐尔逊",
    "亚森",
    "阿里木",
    "努尔兰",
    "依明",
)
MINORITY_FEMALE = ("阿依古丽", "古丽娜尔", "热依拉", "帕提古丽", "迪丽娜尔", "米热古丽", "阿娜尔", "再努尔")

# Given names with characters outside GBK but inside GB18030: 䶮 (U+4DAE), 𪚥 (U+2A6A5), 𫖯 (U+2B5AF).
RARE_GIVEN = ("䶮", "𪚥", "𫖯", "子䶮", "𪚥龙", "嘉𫖯")


@dataclass(frozen=True)
class NamePools:
    """Reusable pools: surnames (frequency-weighted by repetition), given names, companies, streets."""

    surnames: tuple[str, ...]
    male_given: tuple[str, ...]
    female_given: tuple[str, ...]
    companies: tuple[str, ...]
    streets: tuple[str, ...]

    def given_name(self, rng: random.Random, male: bool) -> str:
        """Pick a given name for the sex."""
        return rng.choice(self.male_given if male else self.female_given)

    def surname(self, rng: random.Random) -> str:
        """Pick a surname (common surnames come up more often)."""
        return rng.choice(self.surnames)


def _two_character_names(rng: random.Random, names: list[str], count: int) -> list[str]:
    """Compose two-character given names from the characters of ``names``."""
    characters = sorted({c for name in names for c in name})
    return [rng.choice(characters) + rng.choice(characters) for _ in range(count)]


def build_name_pools(seed: int, size: int = POOL_SIZE) -> NamePools:
    """Draw the pools from a Faker ``zh_CN`` instance seeded with ``seed``."""
    from faker import Faker

    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    rng = random.Random(f"name-pools/{seed}")
    male = [fake.first_name_male() for _ in range(size)]
    female = [fake.first_name_female() for _ in range(size)]
    return NamePools(
        surnames=tuple(fake.last_name() for _ in range(size)),
        male_given=tuple(male + _two_character_names(rng, male, size // 2)),
        female_given=tuple(female + _two_character_names(rng, female, size // 2)),
        companies=tuple(sorted({fake.company() for _ in range(size)})),
        streets=tuple(sorted({fake.street_name() for _ in range(size)})),
    )


def minority_name(rng: random.Random, male: bool, father_given: str | None = None) -> str:
    """Return a Uyghur-style name ``given·father``; ``father_given`` fixes the second part."""
    given = rng.choice(MINORITY_MALE if male else MINORITY_FEMALE)
    father = father_given or rng.choice(MINORITY_MALE)
    if father == given:
        father = MINORITY_MALE[(MINORITY_MALE.index(father) + 1) % len(MINORITY_MALE)]
    return f"{given}\u00b7{father}"
