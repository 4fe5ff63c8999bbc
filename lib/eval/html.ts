/**
 * The shell every HTML page of ours shares: self-contained (a Content-Security-Policy that
 * allows no request: styles inline, pictures as data URIs, charts as inline SVG), one style.
 *
 * @example await writeFile('x.html', htmlPage('Title', '<h1>Title</h1>'));
 */
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1400px;color:#222;padding:0 16px}
h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid #ddd;padding-bottom:4px}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:0}dt{color:#666}dd{margin:0}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px}.card b{font-size:20px;display:block}
.charts{display:flex;gap:18px;flex-wrap:wrap}figure{margin:0}figcaption{color:#555;font-size:12px}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 10px;text-align:right}th:first-child,td:first-child{text-align:left}
.entry{border:1px solid #ddd;border-radius:6px;padding:8px;margin:0 0 12px}.tiles{display:flex;gap:6px;flex-wrap:wrap}
.tiles figure{width:180px}.tiles img{width:180px;height:auto;image-rendering:pixelated;display:block}
.bar img{width:180px;height:10px;display:block}.bar span{display:flex;justify-content:space-between;font-size:11px;color:#555}
.verdict-bad{color:#b00020;font-weight:600}.verdict-ok{color:#1b7a1b;font-weight:600}.head{display:flex;gap:40px;flex-wrap:wrap}
`;

export function htmlPage(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>
${body}
</body></html>
`;
}
