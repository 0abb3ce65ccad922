"""Print the token ids of every title of a MIND news.tsv as JSON lines: {"id","ids"}.

Used by the parity test that compares this tokenizer with the server's.
Usage: python3 tokenize_titles.py TOKENIZER_JSON NEWS_TSV
"""
import json
import sys

from text_tokenizer import WordTokenizer


def main():
    tok = WordTokenizer.load(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 4:
                continue
            print(json.dumps({"id": cols[0], "ids": tok.tokenize(cols[3])}))


if __name__ == "__main__":
    main()
