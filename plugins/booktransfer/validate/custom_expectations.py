"""Great Expectations custom expectations for Chinese identifiers and insurance-book rules.

Importing this module registers every class below with GX by its type name (the snake case of the class
name), so suites name them like built-in ones (`"type": "expect_resident_id_check_digits_to_be_correct"`)
and Data Docs render them with the sentences given here. Each metric computes its verdict for a whole
column at once from the Arrow data behind the pandas frame (booktransfer.validate.cn_identifiers); none
filters the frame first, because GX copies every column of the frame when it does.

Two conventions hold for every expectation here:
- a null value passes (completeness is what the not-null rules check), so no row fails for two reasons
  that say the same thing;
- the ID expectations take `column_list = [<id column>, <id type column>]` and judge only the rows whose
  type equals `id_type` (e.g. "RIC"), instead of a `row_condition`, which GX evaluates by filtering the
  whole frame. Their aspects exclude each other (Excel damage, format, birth date, check digit, in that
  order), so a row gets exactly one ID reason.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation, MulticolumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    MulticolumnMapMetricProvider,
    column_condition_partial,
    multicolumn_condition_partial,
)
from great_expectations.render import LegacyRendererType, RenderedStringTemplateContent
from great_expectations.render.renderer.renderer import renderer
from great_expectations.render.renderer_configuration import RendererConfiguration, RendererValueType
from great_expectations.util import camel_to_snake

from booktransfer.validate import cn_identifiers as cn

Text = ClassVar[str]  # class-level (not pydantic fields): the Data Docs sentence and its parameters
Params = ClassVar[tuple]
_MEMO: dict[tuple, tuple[Any, pa.Array]] = {}
_MEMO_SIZE = 8
_MULTICOLUMN_DOMAIN = ("batch_id", "table", "column_list", "row_condition", "condition_parser", "ignore_row_if")


def arrow_of(series: pd.Series) -> pa.Array:
    """The Arrow array behind a pandas column (zero-copy for Arrow-backed columns); dates become date32."""
    if hasattr(series.array, "__arrow_array__"):
        values = pa.array(series.array)
    else:  # numpy-backed: NaN is a missing value, as pandas means it
        values = pa.array(series.to_numpy(), from_pandas=True)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if pa.types.is_timestamp(values.type):
        values = values.cast(pa.date32())
    return values


def _memo_key(values: pa.Array, *extra: object) -> tuple:
    """Identity of an Arrow array by its buffers: GX hands each metric a new frame over the same buffers."""
    addresses = tuple(b.address if b is not None else 0 for b in values.buffers())
    return (values.offset, len(values), addresses, *extra)


def _memo(values: pa.Array, kind: str, compute, *extra: object) -> Any:  # noqa: ANN001 (a private callback)
    """`compute()` once per column (by its buffers), kind and arguments, however many expectations ask."""
    key = _memo_key(values, kind, *extra)
    if key not in _MEMO:
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.pop(next(iter(_MEMO)))
        _MEMO[key] = (values, compute())  # holds `values`, so its buffers cannot be reused by another column
    return _MEMO[key][1]


def forget() -> None:
    """Drop the memoised per-column results (and the columns they hold) once a suite has run."""
    _MEMO.clear()


def parsed_ric(values: pa.Array) -> cn.ParsedRic:
    """`cn.parse_ric`, memoised per column."""
    return _memo(values, "parse", lambda: cn.parse_ric(values))


def ric_reasons(values: pa.Array, as_of: date) -> pa.Array:
    """`cn.classify_ric`, memoised per column and date."""
    return _memo(values, "ric", lambda: cn.classify_ric(parsed_ric(values), as_of), as_of)


def _as_of(value: str | None) -> date:
    """The date birth dates may not exceed: the expectation's `as_of` (ISO date), else today."""
    return date.fromisoformat(value) if value else date.today()


def _typed(frame: pd.DataFrame, id_type: str) -> tuple[pa.Array, np.ndarray]:
    """The ID column (first in column_list) and which rows carry `id_type` in the type column (second)."""
    values = arrow_of(frame.iloc[:, 0])
    kind = arrow_of(frame.iloc[:, 1])
    return values, np.asarray(pc.fill_null(pc.equal(kind, id_type), False))


def _passes(frame_or_series: pd.DataFrame | pd.Series, failed: np.ndarray | pa.Array) -> pd.Series:
    """A pandas boolean Series, True where the row meets the expectation (GX inverts it)."""
    failed = np.asarray(pc.fill_null(failed, False)) if isinstance(failed, pa.Array | pa.ChunkedArray) else failed
    return pd.Series(~failed, index=frame_or_series.index)


def _legacy_sentence(template: str, params: dict[str, Any]) -> list[RenderedStringTemplateContent]:
    """A Data Docs line (legacy prescriptive renderer) from a $-template and its parameters."""
    return [RenderedStringTemplateContent(
        content_block_type="string_template",
        string_template={"template": template, "params": params,
                         "styling": {"default": {"classes": ["badge", "badge-secondary"]},
                                     "params": {}}},
    )]


class _Described:
    """Mixin: Data Docs and GX's atomic renderers show `sentence` with the expectation's own parameters."""

    sentence: Text = ""
    sentence_params: ClassVar[tuple[tuple[str, RendererValueType], ...]] = ()

    @classmethod
    def _prescriptive_template(cls, renderer_configuration: RendererConfiguration) -> RendererConfiguration:
        for name, kind in cls.sentence_params:
            renderer_configuration.add_param(name=name, param_type=kind)
        renderer_configuration.template_str = cls.sentence
        return renderer_configuration

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(cls, configuration: Any = None, result: Any = None,
                               runtime_configuration: dict | None = None,
                               **kwargs: Any) -> list[RenderedStringTemplateContent]:
        config = configuration or (result.expectation_config if result is not None else None)
        kwargs_ = dict(config.kwargs) if config is not None else {}
        params = {}
        for name, _ in cls.sentence_params:
            value = kwargs_.get(name)
            if value is None and name in cls.__fields__:
                value = cls.__fields__[name].default
            if isinstance(value, list | tuple):
                value = ", ".join(str(v) for v in value) or "-"
            params[name] = value
        return _legacy_sentence(cls.sentence, params)


# ---------------------------------------------------------------- single-column metrics and expectations


class ColumnValuesCnMobile(ColumnMapMetricProvider):
    """Mainland mobile number after R19 normalisation."""

    condition_metric_name = "column_values.bt_cn_mobile"
    filter_column_isnull = False

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        """True for mobile numbers and nulls."""
        return _passes(column, pc.invert(cn.is_mobile(arrow_of(column))))


class ExpectColumnValuesToBeCnMobileNumbers(_Described, ColumnMapExpectation):
    """Values are mainland mobile numbers once normalised (R19): full-width digits, spaces, hyphens and a
    +86/0086/86 prefix are representation; then 11 digits starting 13-19. Nulls pass."""

    map_metric = "column_values.bt_cn_mobile"
    sentence: Text = ("$column values must be mainland mobile numbers (11 digits, 13x-19x, after removing +86 "
                      "and separators).")
    sentence_params: Params = (("column", RendererValueType.STRING),)
    library_metadata: ClassVar[dict] = {"maturity": "production", "tags": ["booktransfer", "china"]}


class ColumnValuesNotPlaceholder(ColumnMapMetricProvider):
    """Not a stand-in for a missing value."""

    condition_metric_name = "column_values.bt_not_placeholder"
    condition_value_keys = ("placeholders", "placeholder_dates")
    filter_column_isnull = False

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, placeholders: list[str] | None = None,
                placeholder_dates: list[str] | None = None, **kwargs: Any) -> pd.Series:
        """True for real values and nulls; dates are compared with `placeholder_dates`, text with the rest."""
        values = arrow_of(column)
        if pa.types.is_date(values.type):
            listed = pa.array([date.fromisoformat(d) for d in placeholder_dates or ()], pa.date32())
            return _passes(column, pc.is_in(values, value_set=listed))
        extra = tuple(placeholders or ())
        return _passes(column, cn.is_placeholder(values, cn.PLACEHOLDERS + extra))


class ExpectColumnValuesToNotBePlaceholders(_Described, ColumnMapExpectation):
    """No placeholder stands in for a value (R15): 不详, 无, 未知, /, -, N/A, all zeros, plus the suite's own
    `placeholders` (text) and `placeholder_dates` (e.g. 1900-01-01). Nulls pass (the not-null rule reports)."""

    map_metric = "column_values.bt_not_placeholder"
    placeholders: list[str] = []
    placeholder_dates: list[str] = []
    success_keys = ("placeholders", "placeholder_dates", "mostly")
    sentence: Text = ("$column values must not be placeholders for a missing value (不详, 无, 未知, /, -, "
                               "N/A, all zeros; and text: $placeholders; dates: $placeholder_dates).")
    sentence_params: Params = (("column", RendererValueType.STRING), ("placeholders", RendererValueType.ARRAY),
                       ("placeholder_dates", RendererValueType.ARRAY))
    library_metadata: ClassVar[dict] = {"maturity": "production", "tags": ["booktransfer"]}


class ColumnValuesLuhn(ColumnMapMetricProvider):
    """Card numbers with a right Luhn check digit."""

    condition_metric_name = "column_values.bt_luhn"
    filter_column_isnull = False

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        """True for Luhn-valid numbers and nulls (python-stdnum decides)."""
        return _passes(column, pc.invert(cn.luhn_valid(arrow_of(column))))


class ExpectColumnValuesToPassLuhnCheck(_Described, ColumnMapExpectation):
    """Bank card numbers pass the Luhn check (R20). Use it with severity "warning": Luhn applies to card
    numbers, not to passbook or corporate account numbers, and a failure is a question, not a verdict."""

    map_metric = "column_values.bt_luhn"
    sentence: Text = "$column values should pass the Luhn check of bank card numbers (ISO/IEC 7812-1)."
    sentence_params: Params = (("column", RendererValueType.STRING),)
    library_metadata: ClassVar[dict] = {"maturity": "production", "tags": ["booktransfer"]}


# ---------------------------------------------------------------- resident ID numbers (GB 11643)


class _RicAspect(MulticolumnMapMetricProvider):
    """Rows of type `id_type` whose ID number fails `aspect` (one of cn_identifiers' reason codes)."""

    condition_domain_keys = _MULTICOLUMN_DOMAIN
    condition_value_keys = ("id_type", "as_of")
    aspect: ClassVar[str] = ""

    @classmethod
    def failing(cls, frame: pd.DataFrame, id_type: str, as_of: str | None) -> np.ndarray:
        """Which rows fail this aspect."""
        values, typed = _typed(frame, id_type)
        reasons = ric_reasons(values, _as_of(as_of))
        return typed & np.asarray(pc.fill_null(pc.equal(reasons, cls.aspect), False))


class MulticolumnRicExcel(_RicAspect):
    """Excel damage in a resident ID number."""

    condition_metric_name = "multicolumn_values.bt_ric_excel_damage"
    aspect = cn.EXCEL_DAMAGED_ID

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, id_type: str = "RIC", as_of: str | None = None,
                **kwargs: Any) -> pd.Series:
        """True unless the ID shows Excel damage."""
        return _passes(column_list, cls.failing(column_list, id_type, as_of))


class MulticolumnRicFormat(_RicAspect):
    """Resident ID number shape."""

    condition_metric_name = "multicolumn_values.bt_ric_format"
    aspect = cn.ID_FORMAT

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, id_type: str = "RIC", as_of: str | None = None,
                **kwargs: Any) -> pd.Series:
        """True unless the ID is neither 17 digits + check character nor 15 digits."""
        return _passes(column_list, cls.failing(column_list, id_type, as_of))


class MulticolumnRicBirthDate(_RicAspect):
    """Resident ID birth date."""

    condition_metric_name = "multicolumn_values.bt_ric_birth_date"
    aspect = cn.ID_BIRTH_DATE

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, id_type: str = "RIC", as_of: str | None = None,
                **kwargs: Any) -> pd.Series:
        """True unless the encoded birth date is not a real date in 1880..as_of."""
        return _passes(column_list, cls.failing(column_list, id_type, as_of))


class MulticolumnRicCheckDigit(_RicAspect):
    """Resident ID check character."""

    condition_metric_name = "multicolumn_values.bt_ric_check_digit"
    aspect = cn.ID_CHECK_DIGIT

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, id_type: str = "RIC", as_of: str | None = None,
                **kwargs: Any) -> pd.Series:
        """True unless the MOD 11-2 check character is wrong (python-stdnum decides)."""
        return _passes(column_list, cls.failing(column_list, id_type, as_of))


class _RicExpectation(_Described, MulticolumnMapExpectation):
    """Shared fields of the resident ID expectations: `column_list = [id column, id type column]`."""

    id_type: str = "RIC"
    as_of: str | None = None
    ignore_row_if: str = "never"
    success_keys = ("id_type", "as_of", "mostly")
    library_metadata: ClassVar[dict] = {"maturity": "production", "tags": ["booktransfer", "china", "GB 11643"]}
    sentence_params: Params = (("column_list", RendererValueType.ARRAY), ("id_type", RendererValueType.STRING))


class ExpectResidentIdNumbersToBeFreeOfExcelDamage(_RicExpectation):
    """The ID number is not what a spreadsheet made of it (R23, D7): no scientific notation (1.10105E+17),
    no 18 digits ending in 000 with a wrong check character (15 significant digits kept, the rest zeroed).
    Damage cannot be repaired: the seller must send the number again."""

    map_metric = "multicolumn_values.bt_ric_excel_damage"
    sentence: Text = ("[$column_list] where the type is $id_type: the ID number must not be spreadsheet-damaged "
                "(scientific notation, or last three digits 000 with a failing check digit).")


class ExpectResidentIdNumbersToBeWellFormed(_RicExpectation):
    """GB 11643 shape: 17 ASCII digits and a check character 0-9 or X, or a legacy 15-digit number (R12, R13).
    Full-width digits and a lower-case x are representation and are folded before this check."""

    map_metric = "multicolumn_values.bt_ric_format"
    sentence: Text = ("[$column_list] where the type is $id_type: the ID number must be 17 digits and a check "
                "character (0-9, X), or a legacy 15-digit number.")


class ExpectResidentIdBirthDatesToBeReal(_RicExpectation):
    """Digits 7-14 (or 7-12 of a 15-digit number, year 19YY) are a calendar date from 1880 up to `as_of`
    (the validation date when not given). A right check digit does not make 30 February a birthday."""

    map_metric = "multicolumn_values.bt_ric_birth_date"
    sentence: Text = ("[$column_list] where the type is $id_type: the birth date in the ID number must be a real date "
                "between 1880-01-01 and the as-of date.")


class ExpectResidentIdCheckDigitsToBeCorrect(_RicExpectation):
    """The 18th character is the ISO 7064 MOD 11-2 check character of the first 17 (python-stdnum). The
    region code is not judged here: historical county codes are valid (see the region expectation)."""

    map_metric = "multicolumn_values.bt_ric_check_digit"
    sentence: Text = ("[$column_list] where the type is $id_type: the ID number's check character must be "
                      "correct (MOD 11-2).")


class MulticolumnRicRegion(MulticolumnMapMetricProvider):
    """Known county code."""

    condition_metric_name = "multicolumn_values.bt_ric_region_known"
    condition_domain_keys = _MULTICOLUMN_DOMAIN
    condition_value_keys = ("id_type",)

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, id_type: str = "RIC", **kwargs: Any) -> pd.Series:
        """True unless a well-formed ID starts with a code no GB/T 2260 edition in stdnum's table ever held."""
        values, typed = _typed(column_list, id_type)
        unknown = np.zeros(len(values), dtype=bool)
        unknown[cn.ric_region_unknown_rows(parsed_ric(values))] = True
        return _passes(column_list, typed & unknown)


class ExpectResidentIdRegionCodesToBeKnown(_Described, MulticolumnMapExpectation):
    """The first six digits are a county code that GB/T 2260 has held at some time. Use it with severity
    "warning": codes are abolished and renumbered (440524, 潮阳县, existed 1983-1993) and tables are
    incomplete, so an unknown code is a question for the seller, never a reason to refuse the number."""

    map_metric = "multicolumn_values.bt_ric_region_known"
    id_type: str = "RIC"
    ignore_row_if: str = "never"
    success_keys = ("id_type", "mostly")
    sentence: Text = ("[$column_list] where the type is $id_type: the ID number's region code should be a known "
                      "county code.")
    sentence_params: Params = (("column_list", RendererValueType.ARRAY), ("id_type", RendererValueType.STRING))
    library_metadata: ClassVar[dict] = {"maturity": "production", "tags": ["booktransfer", "china", "GB 11643"]}


class MulticolumnRicEighteen(MulticolumnMapMetricProvider):
    """18-digit ID numbers (not legacy 15-digit ones)."""

    condition_metric_name = "multicolumn_values.bt_ric_eighteen_digits"
    condition_domain_keys = _MULTICOLUMN_DOMAIN
    condition_value_keys = ("id_type",)

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, id_type: str = "RIC", **kwargs: Any) -> pd.Series:
        """True unless the ID is a legacy 15-digit number."""
        values, typed = _typed(column_list, id_type)
        short = np.zeros(len(values), dtype=bool)
        short[parsed_ric(values).short_rows] = True
        return _passes(column_list, typed & short)


class ExpectResidentIdNumbersToHaveEighteenDigits(_Described, MulticolumnMapExpectation):
    """A 15-digit number (GB 11643-1989) is kept as the seller holds it and flagged for re-verification with
    the customer (R13); booktransfer matches it to other records through its 18-digit form only. Use it
    with severity "warning"."""

    map_metric = "multicolumn_values.bt_ric_eighteen_digits"
    id_type: str = "RIC"
    ignore_row_if: str = "never"
    success_keys = ("id_type", "mostly")
    sentence: Text = ("[$column_list] where the type is $id_type: the ID number should have 18 characters "
                "(15-digit legacy numbers are flagged for re-verification).")
    sentence_params: Params = (("column_list", RendererValueType.ARRAY), ("id_type", RendererValueType.STRING))
    library_metadata: ClassVar[dict] = {"maturity": "production", "tags": ["booktransfer", "china", "GB 11643"]}


class _RicConsistency(MulticolumnMapMetricProvider):
    """Shared: rows of `id_type` with a valid ID and a value in the third column that contradicts the ID."""

    condition_domain_keys = _MULTICOLUMN_DOMAIN
    condition_value_keys = ("id_type", "as_of")

    @classmethod
    def contradicts(cls, frame: pd.DataFrame, id_type: str, as_of: str | None, derive, unknown=()) -> np.ndarray:  # noqa: ANN001
        """Rows where the third column differs from what `derive` reads from a valid ID number."""
        values, typed = _typed(frame, id_type)
        valid = np.asarray(pc.is_null(ric_reasons(values, _as_of(as_of)))) & np.asarray(pc.is_valid(values))
        stated = arrow_of(frame.iloc[:, 2])
        known = pc.invert(pc.is_in(stated, value_set=pa.array(list(unknown), stated.type))) if unknown else None
        differs = pc.not_equal(stated, derive(parsed_ric(values)).cast(stated.type))
        if known is not None:
            differs = pc.and_(differs, known)
        return typed & valid & np.asarray(pc.fill_null(differs, False))


class MulticolumnRicBirthDateMatches(_RicConsistency):
    """Birth date column = the ID's birth date."""

    condition_metric_name = "multicolumn_values.bt_ric_birth_date_matches"

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, id_type: str = "RIC", as_of: str | None = None,
                **kwargs: Any) -> pd.Series:
        """True unless a valid ID and a stated birth date disagree."""
        return _passes(column_list, cls.contradicts(column_list, id_type, as_of, cn.ric_birth_dates))


class MulticolumnRicGenderMatches(_RicConsistency):
    """Gender column = the ID's sex digit."""

    condition_metric_name = "multicolumn_values.bt_ric_gender_matches"
    condition_value_keys = ("id_type", "as_of", "unknown_values")

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, id_type: str = "RIC", as_of: str | None = None,
                unknown_values: list[str] | None = None, **kwargs: Any) -> pd.Series:
        """True unless a valid ID and a stated gender (other than 'unknown') disagree."""
        return _passes(column_list, cls.contradicts(column_list, id_type, as_of, cn.ric_genders,
                                                    tuple(unknown_values or ())))


class ExpectBirthDatesToMatchResidentId(_Described, MulticolumnMapExpectation):
    """`column_list = [id number, id type, birth date]`: where the ID number is valid, the stated birth date
    is the one it encodes (R14, the 2013 真实性 rules' logical-accuracy check). Nulls pass."""

    map_metric = "multicolumn_values.bt_ric_birth_date_matches"
    id_type: str = "RIC"
    as_of: str | None = None
    ignore_row_if: str = "never"
    success_keys = ("id_type", "as_of", "mostly")
    sentence: Text = ("[$column_list] where the type is $id_type and the ID number is valid: the birth date must "
                      "be the ID's.")
    sentence_params: Params = (("column_list", RendererValueType.ARRAY), ("id_type", RendererValueType.STRING))
    library_metadata: ClassVar[dict] = {"maturity": "production", "tags": ["booktransfer", "china", "GB 11643"]}


class ExpectGendersToMatchResidentId(_Described, MulticolumnMapExpectation):
    """`column_list = [id number, id type, gender]`: where the ID number is valid, the gender is the one
    its 17th digit encodes (odd = "M", even = "F"); values in `unknown_values` (e.g. "U") contradict nothing."""

    map_metric = "multicolumn_values.bt_ric_gender_matches"
    id_type: str = "RIC"
    as_of: str | None = None
    unknown_values: list[str] = []
    ignore_row_if: str = "never"
    success_keys = ("id_type", "as_of", "unknown_values", "mostly")
    sentence: Text = ("[$column_list] where the type is $id_type and the ID number is valid: the gender must match "
                "the ID's sex digit (odd = M, even = F).")
    sentence_params: Params = (("column_list", RendererValueType.ARRAY), ("id_type", RendererValueType.STRING))
    library_metadata: ClassVar[dict] = {"maturity": "production", "tags": ["booktransfer", "china", "GB 11643"]}


# ---------------------------------------------------------------- unified social credit codes (GB 32100)


class _UsccAspect(MulticolumnMapMetricProvider):
    """Rows of type `id_type` whose code fails `aspect`."""

    condition_domain_keys = _MULTICOLUMN_DOMAIN
    condition_value_keys = ("id_type",)
    aspect: ClassVar[str] = ""

    @classmethod
    def failing(cls, frame: pd.DataFrame, id_type: str) -> np.ndarray:
        """Which rows fail this aspect (only the typed rows are classified)."""
        values, typed = _typed(frame, id_type)
        reasons = np.full(len(values), False)
        rows = np.flatnonzero(typed)
        if len(rows):
            found = cn.classify_uscc(values.take(pa.array(rows)))
            reasons[rows] = np.asarray(pc.fill_null(pc.equal(found, cls.aspect), False))
        return reasons


class MulticolumnUsccFormat(_UsccAspect):
    """USCC shape and alphabet."""

    condition_metric_name = "multicolumn_values.bt_uscc_format"
    aspect = cn.USCC_FORMAT

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, id_type: str = "USCC", **kwargs: Any) -> pd.Series:
        """True unless the code is not 18 characters of the GB 32100 alphabet with digits at 3-8."""
        return _passes(column_list, cls.failing(column_list, id_type))


class MulticolumnUsccCheck(_UsccAspect):
    """USCC check character."""

    condition_metric_name = "multicolumn_values.bt_uscc_check_digit"
    aspect = cn.USCC_CHECK_DIGIT

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, id_type: str = "USCC", **kwargs: Any) -> pd.Series:
        """True unless the mod-31 check character is wrong (python-stdnum decides)."""
        return _passes(column_list, cls.failing(column_list, id_type))


class _UsccExpectation(_Described, MulticolumnMapExpectation):
    """Shared fields of the credit code expectations: `column_list = [code column, id type column]`."""

    id_type: str = "USCC"
    ignore_row_if: str = "never"
    success_keys = ("id_type", "mostly")
    sentence_params: Params = (("column_list", RendererValueType.ARRAY), ("id_type", RendererValueType.STRING))
    library_metadata: ClassVar[dict] = {"maturity": "production", "tags": ["booktransfer", "china", "GB 32100"]}


class ExpectCreditCodesToBeWellFormed(_UsccExpectation):
    """GB 32100 shape (R18): 18 characters from 0-9 and A-Y without I, O, S, V, Z; characters 3-8 digits."""

    map_metric = "multicolumn_values.bt_uscc_format"
    sentence: Text = ("[$column_list] where the type is $id_type: the code must be 18 characters of the GB 32100 "
                "alphabet (no I, O, S, V, Z).")


class ExpectCreditCodeCheckCharactersToBeCorrect(_UsccExpectation):
    """The 18th character is the GB 32100 mod-31 check character (python-stdnum). A failing code is
    quarantined for a manual look-up in the national enterprise credit registry, never dropped (R18)."""

    map_metric = "multicolumn_values.bt_uscc_check_digit"
    sentence: Text = "[$column_list] where the type is $id_type: the code's check character must be correct (mod 31)."


# ---------------------------------------------------------------- rows that need a value of their type


class MulticolumnPresentForType(MulticolumnMapMetricProvider):
    """A value where the type column says one is mandatory."""

    condition_metric_name = "multicolumn_values.bt_present_for_type"
    condition_domain_keys = _MULTICOLUMN_DOMAIN
    condition_value_keys = ("type_value",)

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, type_value: str = "", **kwargs: Any) -> pd.Series:
        """True unless the row has `type_value` in the second column and no value in the first."""
        values, typed = _typed(column_list, type_value)
        return _passes(column_list, typed & np.asarray(pc.is_null(values)))


class ExpectColumnValuesToBePresentForType(_Described, MulticolumnMapExpectation):
    """`column_list = [column, type column]`: rows whose type is `type_value` have a value in the column
    (e.g. individuals have a gender and a birth date; companies need neither)."""

    map_metric = "multicolumn_values.bt_present_for_type"
    type_value: str
    ignore_row_if: str = "never"
    success_keys = ("type_value", "mostly")
    sentence: Text = "[$column_list] where the type is $type_value: the first column must have a value."
    sentence_params: Params = (("column_list", RendererValueType.ARRAY), ("type_value", RendererValueType.STRING))
    library_metadata: ClassVar[dict] = {"maturity": "production", "tags": ["booktransfer"]}


# ---------------------------------------------------------------- beneficiary shares


class MulticolumnSharesSum(MulticolumnMapMetricProvider):
    """Beneficiary shares per policy and order summing to the total."""

    condition_metric_name = "multicolumn_values.bt_shares_sum"
    condition_domain_keys = _MULTICOLUMN_DOMAIN
    condition_value_keys = ("role_value", "total")

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, role_value: str = "BENEFICIARY", total: float = 100,
                **kwargs: Any) -> pd.Series:
        """True unless the row is a beneficiary whose group (policy, order) does not sum to `total`."""
        policy, role, order, share = (arrow_of(column_list.iloc[:, i]) for i in range(4))
        group = pc.binary_join_element_wise(pc.fill_null(policy.cast(pa.string()), ""),
                                            pc.fill_null(order.cast(pa.string()), ""), "|")
        beneficiary = pc.fill_null(pc.equal(role, role_value), False)
        table = pa.table({"g": group, "s": share.cast(pa.float64())}).filter(beneficiary)
        sums = table.group_by("g").aggregate([("s", "sum")])
        off = pc.greater(pc.abs(pc.subtract(pc.fill_null(sums.column("s_sum"), 0.0), float(total))), 1e-6)
        bad_groups = sums.filter(off).column("g").combine_chunks()
        failed = np.asarray(pc.and_(beneficiary, pc.fill_null(pc.is_in(group, value_set=bad_groups), False)))
        return _passes(column_list, failed)


class ExpectBeneficiarySharesToSumToTotal(_Described, MulticolumnMapExpectation):
    """`column_list = [policy number, role, beneficiary order, share]`: per policy and order, the shares of
    the beneficiary rows sum to `total` (100 %), R16. A policy with no beneficiary rows pays the legal heirs
    (法定受益人) and is not judged. Every row of a group that misses the total fails."""

    map_metric = "multicolumn_values.bt_shares_sum"
    role_value: str = "BENEFICIARY"
    total: float = 100
    ignore_row_if: str = "never"
    success_keys = ("role_value", "total", "mostly")
    sentence: Text = ("[$column_list]: the shares of the $role_value rows of each policy and order must sum to $total "
                "(no such rows: legal heirs).")
    sentence_params: Params = (("column_list", RendererValueType.ARRAY), ("role_value", RendererValueType.STRING),
                       ("total", RendererValueType.NUMBER))
    library_metadata: ClassVar[dict] = {"maturity": "production", "tags": ["booktransfer", "insurance"]}


CUSTOM_EXPECTATIONS = (
    ExpectColumnValuesToBeCnMobileNumbers,
    ExpectColumnValuesToNotBePlaceholders,
    ExpectColumnValuesToPassLuhnCheck,
    ExpectResidentIdNumbersToBeFreeOfExcelDamage,
    ExpectResidentIdNumbersToBeWellFormed,
    ExpectResidentIdBirthDatesToBeReal,
    ExpectResidentIdCheckDigitsToBeCorrect,
    ExpectResidentIdRegionCodesToBeKnown,
    ExpectResidentIdNumbersToHaveEighteenDigits,
    ExpectBirthDatesToMatchResidentId,
    ExpectGendersToMatchResidentId,
    ExpectCreditCodesToBeWellFormed,
    ExpectCreditCodeCheckCharactersToBeCorrect,
    ExpectColumnValuesToBePresentForType,
    ExpectBeneficiarySharesToSumToTotal,
)
# The types that take the run's as-of date (birth dates may not be later).
AS_OF_TYPES = frozenset(camel_to_snake(c.__name__) for c in CUSTOM_EXPECTATIONS if "as_of" in c.__fields__)
