// The header's badge: how many incidents of the tenant are open (issue 12). Loaded on every
// page; refreshed every 30 s. A count past one page of the API shows as "100+".

import { incidentsApi } from './api.js';
import { byId } from './dom.js';

const PAGE = 100;
const REFRESH_MS = 30000;

async function refresh() {
  const node = byId('open-incidents');
  if (!node) return;
  try {
    const { data } = await incidentsApi.list({ state: 'open', limit: String(PAGE) });
    const count = data.items.length;
    node.textContent = data.nextCursor ? `${count}+` : String(count);
    node.hidden = count === 0;
    node.setAttribute('aria-label', `${node.textContent} open`);
    node.title = `${node.textContent} open incident${count === 1 ? '' : 's'}`;
  } catch {
    node.hidden = true; // the page itself shows API errors; the badge just stays out of the way
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
