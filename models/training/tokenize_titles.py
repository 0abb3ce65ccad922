"""Print the token ids of every title of a MIND news.tsv as JSON lines: {"id","ids"}.

Used by the parity test that compares this tokenizer with the server's.
Usage: python3 tokenize_titles.py TOKENIZER_JSON NEWS_TSV [--build]
With --build, first builds TOKENIZER_JSON from the titles themselves (every word kept),
so that the comparison covers real vocabulary, not only unknown words.
"""
import json
import sys

from text_tokenizer import WordTokenizer


def titles(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 4:
                yield cols[0], cols[3]


def main():
    tok_path, news_path = sys.argv[1], sys.argv[2]
    if "--build" in sys.argv[3:]:
        WordTokenizer.build([t for _, t in titles(news_path)], min_count=1).save(tok_path)
    tok = WordTokenizer.load(tok_path)
    for nid, title in titles(news_path):
        print(json.dumps({"id": nid, "ids": tok.tokenize(title)}))


if __name__ == "__main__":
    main()
