// page.js: the /edge/ page. It shows in the DOM what edge.js did: #status's data-state
// is loading, ready, scored or error; each figure has its own id, and #result carries
// them as data attributes too (data-device-score, data-model-version, ...).
// /edge/?entity=ID[&model=NAME][&variant=fp32] scores that entity as soon as the page loads.
import { EdgeClient, VerificationError } from './edge.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
for (const name of ['model', 'variant', 'entity']) {
  if (params.has(name)) $(name).value = params.get(name);
}

let client = null;

function setStatus(state, text) {
  $('status').dataset.state = state;
  $('status').textContent = text;
}

function show(fields) {
  for (const [id, value] of Object.entries(fields)) {
    $(id).textContent = value ?? '';
    $('result').dataset[id.replace(/-(\w)/g, (_, c) => c.toUpperCase())] = value ?? '';
  }
}

function fail(err) {
  const kind = err instanceof VerificationError ? 'verification' : 'error';
  $('error').dataset.kind = kind;
  $('error').textContent = (kind === 'verification' ? 'Model refused: ' : 'Error: ') + err.message;
  $('error').hidden = false;
  setStatus('error', kind === 'verification' ? 'model verification failed' : 'error');
}

/** load (re)loads the model of the form's settings; a new client when they changed. */
async function load() {
  const model = $('model').value.trim() || 'demo';
  const variant = $('variant').value;
  if (!client || client.model !== model || client.variant !== variant) {
    client = new EdgeClient({ model, variant });
    window.edgeClient = client; // for tests and the console
  }
  setStatus('loading', `loading ${model} (${variant})`);
  const info = await client.load();
  show({
    'model-version': info.version, 'model-variant': info.variant, 'model-source': info.source,
    'download-bytes': info.downloadedBytes, 'model-size': info.sizeBytes, 'model-sha256': info.sha256,
  });
  setStatus('ready', `${model} v${info.version} ${variant} ready (${info.source})`);
  return info;
}

async function score() {
  $('error').hidden = true;
  try {
    await load();
    const entity = $('entity').value.trim();
    let device, server = null;
    if (entity) {
      const r = await client.scoreEntity(entity);
      ({ device, server } = r);
      $('vector').value = r.vector.join(', ');
    } else if ($('vector').value.trim()) {
      device = await client.score($('vector').value.split(',').map((s) => Number(s.trim())));
    } else {
      return;
    }
    show({
      'device-score': device.score, 'inference-ms': device.ms.toFixed(2),
      'server-score': server?.score, 'server-source': server ? `${server.source}, model v${server.model_version}` : '',
    });
    setStatus('scored', entity ? `scored ${entity}` : 'scored the vector');
  } catch (err) {
    fail(err);
  }
}

$('form').addEventListener('submit', (e) => {
  e.preventDefault();
  score();
});

if (params.has('entity')) {
  score();
} else {
  load().catch(fail);
}
