"""Reading MIND-format folders (news.tsv, behaviors.tsv) into plain Python structures."""
import os
from dataclasses import dataclass, field


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


def read_news(path, skips):
    news = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 4 or not cols[0] or not cols[3].strip():
                skips.bad_news_rows += 1
                continue
            abstract = cols[4] if len(cols) > 4 else ""
            news[cols[0]] = News(cols[0], cols[1], cols[2], cols[3], abstract)
    return news


def read_behaviors(path, news, skips):
    """Impressions with unknown ids removed (and counted); labels parsed to ints."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) != 5:
                skips.bad_behavior_rows += 1
                continue
            history = []
            for nid in cols[3].split():
                if nid in news:
                    history.append(nid)
                else:
                    skips.unknown_history_ids += 1
            cands = []
            ok = True
            for tok in cols[4].split():
                nid, _, label = tok.rpartition("-")
                if label not in ("0", "1") or not nid:
                    ok = False
                    break
                if nid in news:
                    cands.append((nid, int(label)))
                else:
                    skips.unknown_candidate_ids += 1
            if not ok:
                skips.bad_behavior_rows += 1
                continue
            out.append(Impression(cols[0], cols[1], history, cands))
    return out


def read_dir(path, skips):
    news = read_news(os.path.join(path, "news.tsv"), skips)
    behaviors = read_behaviors(os.path.join(path, "behaviors.tsv"), news, skips)
    return news, behaviors
