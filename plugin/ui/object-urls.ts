/**
 * blob: URLs for the pictures the window shows (previews, thumbnails). Each one pins its bytes in
 * memory until revoked, and a long session streams hundreds of previews, so the window keeps a URL
 * only while the picture is on screen.
 */
export class ObjectUrls {
  private readonly urls = new Map<Uint8Array, string>();

  constructor(private readonly type = 'image/png') {}

  /** The URL showing these bytes (the same one while it is kept). */
  for(bytes: Uint8Array): string {
    let url = this.urls.get(bytes);
    if (!url) {
      url = URL.createObjectURL(new Blob([bytes as unknown as BlobPart], { type: this.type }));
      this.urls.set(bytes, url);
    }
    return url;
  }

  /** Revokes the URL of every picture not in `shown`. */
  keepOnly(shown: Iterable<Uint8Array | undefined>): void {
    const keep = new Set(shown);
    for (const [bytes, url] of this.urls) {
      if (keep.has(bytes)) continue;
      URL.revokeObjectURL(url);
      this.urls.delete(bytes);
    }
  }

  get size(): number {
    return this.urls.size;
  }
}
