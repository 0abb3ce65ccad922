/**
 * Turns news fields and click histories into encoder input ids with the bundle's own
 * tokenizer.json. The assembly rules (fields joined by [SEP], truncation, never empty)
 * are the ones models/training/text_tokenizer.py uses to train; golden tests hold both
 * sides to the same ids.
 */
import { Tokenizer } from "@huggingface/tokenizers";
import type { Manifest } from "./bundle.ts";

export interface NewsText {
  title: string;
  abstract?: string | undefined;
  category?: string | undefined;
  subcategory?: string | undefined;
}

export class TextTokenizer {
  private readonly tok: Tokenizer;
  private readonly fields: Manifest["newsInput"]["fields"];
  private readonly newsMax: number;
  private readonly userMax: number;
  private readonly sepId: number;
  private readonly unkId: number;
  /** The FUM user encoder's own fields and length per clicked news; null when it reads no token ids. */
  private readonly click: { fields: Manifest["newsInput"]["fields"]; maxLength: number } | null;

  constructor(json: unknown, manifest: Manifest) {
    this.tok = new Tokenizer(json as object, { unk_token: "[UNK]" });
    this.fields = manifest.newsInput.fields;
    this.newsMax = manifest.newsInput.maxLength;
    this.userMax = manifest.userInput.maxLength;
    this.sepId = manifest.tokenizer.sepId;
    this.unkId = manifest.tokenizer.unkId;
    const user = manifest.encoders.user;
    this.click = user.input === "news_tokens_and_vectors" ? { fields: user.tokens.fields, maxLength: user.tokens.maxLength } : null;
  }

  /** Whether the user encoder reads each clicked news' token ids (FUM). */
  get readsClickTokens(): boolean {
    return this.click !== null;
  }

  /** Ids of one text, no special tokens. */
  ids(text: string): number[] {
    if (!text) return [];
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  private join(texts: Array<string | undefined>, max: number): number[] {
    const out: number[] = [];
    for (const t of texts) {
      if (out.length >= max) break;
      const ids = this.ids(t ?? "");
      if (!ids.length) continue;
      if (out.length) out.push(this.sepId);
      for (const id of ids) out.push(id);
    }
    if (!out.length) out.push(this.unkId);
    return out.length > max ? out.slice(0, max) : out;
  }

  news(n: NewsText): number[] {
    return this.join(
      this.fields.map((f) => n[f]),
      this.newsMax,
    );
  }

  /**
   * The token ids the user encoder reads of one clicked news (FUM): the news rule with the user
   * encoder's own fields and length (tokens.fields, tokens.maxLength); null when it reads none.
   */
  clickedNews(n: NewsText): number[] | null {
    if (!this.click) return null;
    return this.join(
      this.click.fields.map((f) => n[f]),
      this.click.maxLength,
    );
  }

  /** Titles newest first, as the siamese user encoder reads them. */
  userTitles(titlesNewestFirst: string[]): number[] {
    return this.join(titlesNewestFirst, this.userMax);
  }
}
