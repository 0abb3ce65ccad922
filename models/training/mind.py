"""Reading MIND-format folders (news.tsv, behaviors.tsv) into plain Python structures.

The row rules are those of docs/mind-format.md, shared with the server's readers
(src/catalog/newsfile.ts, src/eval/behaviors.ts, src/catalog/textfile.ts); a test runs both on
the same files and compares, so a row trained on is a row `newsrec embed` and `eval` can find.
No torch here: the test runs this module under a bare python3.

    python3 models/training/mind.py news|behaviors|histories FILE   # one JSON object: rows and problems
"""
import io
import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field


@dataclass
class News:
    nid: str
    category: str
    subcategory: str
    title: str
    abstract: str


@dataclass
class Impression:
    iid: str
    user: str
    history: list
    candidates: list  # list of (news id, label)


@dataclass
class Skips:
    bad_news_rows: int = 0
    bad_behavior_rows: int = 0
    unknown_history_ids: int = 0
    unknown_candidate_ids: int = 0
    counts: dict = field(default_factory=dict)

    def as_dict(self):
        return {
            "badNewsRows": self.bad_news_rows,
            "badBehaviorRows": self.bad_behavior_rows,
            "unknownHistoryIds": self.unknown_history_ids,
            "unknownCandidateIds": self.unknown_candidate_ids,
        }


# ASCII whitespace only: str.strip() and str.split() also take U+001C-U+001F and U+0085, and
# JavaScript's trim() takes U+FEFF and U+00A0 instead; both sides spell this set out.
WS = " \t\n\v\f\r"
_RUNS = re.compile("[ \t\n\v\f\r]+")
_BOM = "\xef\xbb\xbf"  # as latin-1 characters, see lines()
_TOKEN = re.compile(r"(.+)-([01])", re.S)


def trim(s):
    return s.strip(WS)


def split_ws(s):
    return [t for t in _RUNS.split(s) if t]


def lines(path):
    """(line number, text or None when not UTF-8) for every line, empty ones included.

    Lines end at LF, CRLF or a lone CR. The file is split as latin-1 (one character per byte), so
    each line's own bytes are decoded strictly and a bad byte refuses only its row. A UTF-8
    byte-order mark at the start of a line is dropped (spreadsheets write one; `cat` carries a
    second file's into the middle).
    """
    with open(path, "rb") as raw:
        for n, text in enumerate(io.TextIOWrapper(raw, encoding="latin-1", newline=None), 1):
            text = text[:-1] if text.endswith("\n") else text
            if text.startswith(_BOM):
                text = text[len(_BOM):]
            try:
                yield n, text.encode("latin-1").decode("utf-8")
            except UnicodeDecodeError:
                yield n, None


def _refuse_constant(name):
    # JSON.parse has no NaN or Infinity; json.loads would take them.
    raise ValueError(name)


def _is_json_array(s):
    """The entity columns feed no model, but JSON there is what says the row kept MIND's shape."""
    if not s:
        return True
    try:
        return isinstance(json.loads(s, parse_constant=_refuse_constant), list)
    except ValueError:
        return False


def parse_news_row(text):
    """A News, or the reason the row is refused."""
    c = [trim(x) for x in text.split("\t")]
    if len(c) != 8:
        return f"expected 8 tab-separated columns, found {len(c)}"
    nid, category, subcategory, title, abstract, _url, title_entities, abstract_entities = c
    if not nid:
        return "empty news id"
    # Ids are space-separated in behaviors.tsv: one with whitespace could never be clicked.
    if any(ch in WS for ch in nid):
        return "news id contains whitespace"
    if not title:
        return "empty title"
    if not _is_json_array(title_entities):
        return "title_entities is not a JSON array"
    if not _is_json_array(abstract_entities):
        return "abstract_entities is not a JSON array"
    return News(nid, category, subcategory, title, abstract)


def parse_behaviors_row(text):
    """An Impression with every id as written (unknown ones included), or the refusal reason."""
    c = [trim(x) for x in text.split("\t")]
    if len(c) != 5:
        return f"expected 5 tab-separated columns, found {len(c)}"
    iid, user, _time, history, impressions = c
    if not iid:
        return "empty impression id"
    if not user:
        return "empty user id"
    tokens = split_ws(impressions)
    if not tokens:
        return "empty impressions column"
    cands = []
    for tok in tokens:
        m = _TOKEN.fullmatch(tok)  # the id is everything before the last dash
        if not m:
            return f"impression token {tok} is not of the form N123-1 (a news id, a dash, 0 or 1)"
        cands.append((m.group(1), int(m.group(2))))
    return Impression(iid, user, split_ws(history), cands)


def parse_history_row(text):
    """A histories.tsv row: behaviors.tsv's columns with the impressions column empty.

    Returns an Impression with no candidates, or the refusal reason. Labels are never read from it:
    a row with impressions belongs in behaviors.tsv, and is refused here so that no labelled
    impression is mistaken for an unlabeled history.
    """
    c = [trim(x) for x in text.split("\t")]
    if len(c) != 5:
        return f"expected 5 tab-separated columns, found {len(c)}"
    iid, user, _time, history, impressions = c
    if not iid:
        return "empty impression id"
    if not user:
        return "empty user id"
    if impressions:
        return "impressions column is not empty (labelled rows belong in behaviors.tsv)"
    return Impression(iid, user, split_ws(history), [])


def read_news_rows(path):
    """(news by id in file order, [(line, reason)]). The first accepted row of an id wins."""
    news, first, problems = {}, {}, []
    for n, text in lines(path):
        if text is None:
            problems.append((n, "not valid UTF-8"))
            continue
        if not trim(text):
            continue
        r = parse_news_row(text)
        if isinstance(r, str):
            problems.append((n, r))
        elif r.nid in news:
            problems.append((n, f"duplicate id {r.nid} (first on line {first[r.nid]})"))
        else:
            news[r.nid], first[r.nid] = r, n
    return news, problems


def read_behavior_rows(path, parse=parse_behaviors_row):
    """([Impression] with ids as written, [(line, reason)])."""
    out, problems = [], []
    for n, text in lines(path):
        if text is None:
            problems.append((n, "not valid UTF-8"))
            continue
        if not trim(text):
            continue
        r = parse(text)
        if isinstance(r, str):
            problems.append((n, r))
        else:
            out.append(r)
    return out, problems


def read_news(path, skips):
    news, problems = read_news_rows(path)
    skips.bad_news_rows += len(problems)
    return news


def read_behaviors(path, news, skips):
    """Impressions with ids missing from news removed (and counted)."""
    rows, problems = read_behavior_rows(path)
    skips.bad_behavior_rows += len(problems)
    for imp in rows:
        known = [h for h in imp.history if h in news]
        skips.unknown_history_ids += len(imp.history) - len(known)
        cands = [(nid, label) for nid, label in imp.candidates if nid in news]
        skips.unknown_candidate_ids += len(imp.candidates) - len(cands)
        imp.history, imp.candidates = known, cands
    return rows


def read_histories(path, news, skips):
    """Unlabeled histories (histories.tsv) with ids missing from news removed (and counted as
    unknown history ids); refused rows count as bad behavior rows."""
    rows, problems = read_behavior_rows(path, parse_history_row)
    skips.bad_behavior_rows += len(problems)
    for r in rows:
        known = [h for h in r.history if h in news]
        skips.unknown_history_ids += len(r.history) - len(known)
        r.history = known
    return rows


def read_dir(path, skips):
    news = read_news(os.path.join(path, "news.tsv"), skips)
    behaviors = read_behaviors(os.path.join(path, "behaviors.tsv"), news, skips)
    return news, behaviors


def _dump(kind, path):
    if kind == "news":
        rows, problems = read_news_rows(path)
        rows = [asdict(r) for r in rows.values()]
    else:
        rows, problems = read_behavior_rows(path, parse_history_row if kind == "histories" else parse_behaviors_row)
        rows = [asdict(r) for r in rows]
    return {"rows": rows, "problems": [{"line": n, "reason": r} for n, r in problems]}


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("news", "behaviors", "histories"):
        sys.exit("usage: mind.py news|behaviors|histories FILE")
    json.dump(_dump(sys.argv[1], sys.argv[2]), sys.stdout)
    sys.stdout.write("\n")
