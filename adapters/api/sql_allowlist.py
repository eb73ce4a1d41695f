"""The SQL door's allow-list, as data: the views it serves, the functions it lets a query call (and why
it refuses the others, by name), the words it refuses outright, and `SqlRefused`, what every refusal is.

adapters/api/sql_door.py checks a statement against these; adapters/api/sql_tokens.py reads its tokens.
"""

from __future__ import annotations

import re

from ...projections.roles import RAW_TABLES, VIEW_ENDPOINTS


class SqlRefused(ValueError):
    """The door refused a statement; the message names what was refused, why, and what to do instead."""

    def __init__(self, what: str, why: str, fix: str = "") -> None:
        self.what, self.why, self.fix = what, why, fix
        super().__init__(f"{what}: {why}" + (f" ({fix})" if fix else ""))


#: Every view and table the door can answer from (for some role).
DOOR_VIEWS: frozenset[str] = frozenset(VIEW_ENDPOINTS) | RAW_TABLES

_AGGREGATES = """
count sum avg min max any anyLast argMin argMax uniq uniqExact uniqCombined uniqHLL12 groupArray
groupUniqArray groupArrayArray groupUniqArrayArray quantile quantiles quantileExact quantilesExact median
stddevPop stddevSamp varPop varSamp covarPop covarSamp corr topK sumWithOverflow avgWeighted
"""
_COMBINATORS = ("", "If", "Distinct", "Array", "OrNull", "OrDefault", "ArrayIf", "DistinctIf")
_SCALARS = """
if multiIf coalesce ifNull nullIf isNull isNotNull assumeNotNull toNullable
toString toFixedString toInt8 toInt16 toInt32 toInt64 toUInt8 toUInt16 toUInt32 toUInt64 toFloat32 toFloat64
toDecimal32 toDecimal64 toDecimal128 toInt32OrNull toInt64OrNull toInt64OrZero toFloat64OrNull
toFloat64OrZero toDateOrNull toDateTimeOrNull toDate toDateTime toTypeName cast
toStartOfDay toStartOfWeek toStartOfMonth toStartOfQuarter toStartOfYear toStartOfHour toStartOfMinute
toMonday toYear toMonth toQuarter toDayOfWeek toDayOfMonth toDayOfYear toHour toMinute toYYYYMM toYYYYMMDD
toRelativeDayNum toRelativeMonthNum toUnixTimestamp now today yesterday dateDiff formatDateTime
addSeconds addMinutes addHours addDays addWeeks addMonths addQuarters addYears subtractSeconds
subtractMinutes subtractHours subtractDays subtractWeeks subtractMonths subtractQuarters subtractYears
toIntervalDay toIntervalMonth toIntervalWeek toIntervalHour
lower upper lowerUTF8 upperUTF8 length lengthUTF8 empty notEmpty concat substring substringUTF8 trim
trimBoth trimLeft trimRight position positionCaseInsensitive positionUTF8 positionCaseInsensitiveUTF8
like notLike ilike match extract extractAll replaceOne replaceAll replaceRegexpOne replaceRegexpAll
splitByChar splitByString startsWith endsWith lcase ucase left right
round floor ceil abs greatest least intDiv intDivOrZero modulo plus minus multiply divide negate sign
exp log sqrt pow power
equals notEquals less greater lessOrEquals greaterOrEquals and or not xor in notIn
tuple tupleElement array arrayJoin has hasAny hasAll indexOf arrayElement arrayFilter arrayMap
arrayCount arrayExists arrayAll arraySum arrayMin arrayMax arrayAvg arraySort arrayReverseSort
arrayDistinct arrayUniq arrayStringConcat arraySlice arrayConcat arrayFlatten arrayCompact
emptyArrayString emptyArrayUInt64 arrayEnumerate
visitParamExtractString visitParamExtractInt visitParamExtractUInt visitParamExtractFloat
visitParamExtractBool visitParamExtractRaw visitParamHas JSONExtractString JSONExtractInt
JSONExtractFloat JSONExtractBool JSONExtractRaw JSONHas JSONLength
formatReadableSize formatReadableQuantity
"""
#: Lower-cased names of the functions the door allows (ClickHouse resolves some names case-blind; the
#: door compares lower-case, so a name is allowed only if every spelling of it is harmless).
ALLOWED_FUNCTIONS: frozenset[str] = frozenset(
    {f"{base}{c}".lower() for base in _AGGREGATES.split() for c in _COMBINATORS}
    | {name.lower() for name in _SCALARS.split()}
)

# Words that stand before "(" without being a function call.
_STRUCTURAL_WORDS = """IN NOT AS FROM JOIN USING AND OR SELECT WHERE PREWHERE HAVING BY ON EXISTS WHEN
THEN ELSE CASE LIMIT OFFSET DISTINCT ALL WITH UNION INTERSECT EXCEPT OVER IS LIKE ILIKE BETWEEN
INTERVAL GLOBAL"""
STRUCTURAL = frozenset(_STRUCTURAL_WORDS.split())

_WHY_NOT = (
    (re.compile(r"^(file|filesystem.*|readfile|user_files.*)$"), "it reads or writes files on the server"),
    (
        re.compile(
            r"^(url|s3.*|remote.*|cluster.*|mysql|postgresql|jdbc|odbc|hdfs.*|azure.*|gcs|iceberg.*|"
            r"deltalake.*|hudi.*|mongodb|redis|sqlite|executable.*)$"
        ),
        "it reaches other servers or programs",
    ),
    (
        re.compile(r"^(dictget.*|dicthas|dictisin|dictgethierarchy|dictionary|joinget.*)$"),
        "it reads dictionaries",
    ),
    (
        re.compile(r"^(input|numbers.*|zeros.*|generaterandom.*|values|merge|null|view|format|system.*)$"),
        "it is a table function",
    ),
    (
        re.compile(r"^(sleep.*|throwif|range|repeat|replicate|randomstring.*|leftpad.*|rightpad.*)$"),
        "it can stall the server or exhaust its memory",
    ),
    (
        re.compile(
            r"^(getsetting|currentuser|currentdatabase|hostname|version|uptime|getmacro|fqdn|"
            r"servertimezone|tcpport|getserverport|buildid|displayname)$"
        ),
        "it describes the server",
    ),
)


def function_allowed(name: str) -> bool:
    return name.lower() in ALLOWED_FUNCTIONS


def function_refusal(name: str) -> SqlRefused:
    lowered = name.lower()
    why = next(
        (reason for pattern, reason in _WHY_NOT if pattern.match(lowered)), "it is not on the door's list"
    )
    return SqlRefused(
        f"function {name}()",
        why,
        "allowed: aggregates, conversions, dates, strings, arrays (docs/security.md)",
    )


REFUSED_WORDS = {
    "INTO": ("INTO", "it writes the answer to a file or a table"),
    "OUTFILE": ("INTO OUTFILE", "it writes a file on the machine"),
    "INFILE": ("FROM INFILE", "it reads a file on the machine"),
    "SETTINGS": ("SETTINGS", "a query may not change the door's limits"),
    "FORMAT": ("FORMAT", "the door chooses the output format (--format)"),
}
