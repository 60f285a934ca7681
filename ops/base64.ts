/** @file base64 (whitespace ignored) to bytes: how the committed WebAssembly modules are stored in the source. */
export function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  const text = atob(b64.replace(/\s/g, ''));
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}
