// edge.js: the lambda platform's browser client, an ES module with no dependencies
// but onnxruntime-web (served by the platform at /edge/ort/).
//
//   import { EdgeClient } from 'https://platform.example/edge/edge.js';
//   const edge = new EdgeClient({ model: 'demo', variant: 'int8' });
//   const model = await edge.load();          // manifest, download or cache, sha256 check
//   const r = await edge.scoreEntity('user-000001');
//   // r.device.score, r.device.ms, r.server.score, r.model.version, r.model.downloadedBytes
//
// load() reads GET /v1/models/{name} (revalidated with If-None-Match), takes the active
// version's file of the variant, revalidates a cached copy with If-None-Match or
// downloads it, checks its sha256 with SubtleCrypto before anything uses it, keeps it in
// the Cache API keyed by its sha256 and drops the model's older copies. A file whose
// sha256 is not the manifest's throws a VerificationError and is neither cached nor
// scored with. Offline, the cached manifest and file are used. The Cache API and
// SubtleCrypto need a secure context: https, or http on localhost / 127.0.0.1.

/** A model file whose bytes are not those the manifest names. */
export class VerificationError extends Error {
  constructor(message) {
    super(message);
    this.name = 'VerificationError';
  }
}

/** An answer of the platform other than the one asked for. */
export class HTTPError extends Error {
  constructor(url, status, body) {
    super(`${url}: HTTP ${status}${body ? ': ' + body : ''}`);
    this.name = 'HTTPError';
    this.status = status;
  }
}

const defaultRuntime = new URL('./ort/ort.wasm.min.mjs', import.meta.url).href;

// Cache keys: the Cache API wants http(s) URLs; these are never fetched.
const modelKey = (sha256) => `https://models.lambda.invalid/sha256/${sha256}`;
const manifestKey = (base, name) => `https://models.lambda.invalid/manifest/${encodeURIComponent(base)}/${encodeURIComponent(name)}`;

/** hex returns the lowercase hex of an ArrayBuffer. */
function hex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** sha256 returns the hex SHA-256 of bytes, computed with SubtleCrypto. */
export async function sha256(bytes) {
  return hex(await crypto.subtle.digest('SHA-256', bytes));
}

export class EdgeClient {
  /**
   * @param {object} [opts]
   * @param {string} [opts.baseURL]   the platform's origin ('' = this page's)
   * @param {string} [opts.model]     model name (default 'demo')
   * @param {'int8'|'fp32'} [opts.variant] the file scored on the device (default 'int8')
   * @param {string} [opts.token]     read token, when the platform requires one
   * @param {string} [opts.runtimeURL] onnxruntime-web's ort.wasm.min.mjs (default: the platform's)
   * @param {string} [opts.cacheName] Cache API cache of the model files
   */
  constructor(opts = {}) {
    this.baseURL = (opts.baseURL ?? '').replace(/\/$/, '');
    this.model = opts.model ?? 'demo';
    this.variant = opts.variant ?? 'int8';
    if (this.variant !== 'int8' && this.variant !== 'fp32') {
      throw new Error(`variant ${this.variant}: want int8 or fp32`);
    }
    this.token = opts.token ?? '';
    this.runtimeURL = opts.runtimeURL ?? defaultRuntime;
    this.cacheName = opts.cacheName ?? 'lambda-edge-models';
    this.current = null; // { info, session }
    this.sessionsCreated = 0;
  }

  async runtime() {
    if (!this.ort) {
      const ort = await import(this.runtimeURL);
      // Single-threaded wasm: no SharedArrayBuffer, so no cross-origin isolation needed.
      ort.env.wasm.numThreads = 1;
      ort.env.wasm.wasmPaths = new URL('./', this.runtimeURL).href;
      this.ort = ort;
    }
    return this.ort;
  }

  async get(path, headers = {}) {
    const h = { ...headers };
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    // no-store: the conditional requests are ours, and their 304s reach this code.
    return fetch(this.baseURL + path, { headers: h, cache: 'no-store' });
  }

  async getJSON(path) {
    const res = await this.get(path);
    if (!res.ok) throw new HTTPError(path, res.status, await errorText(res));
    return res.json();
  }

  /** manifest returns the model's manifest, revalidating a stored copy with If-None-Match. */
  async manifest(cache) {
    const path = `/v1/models/${encodeURIComponent(this.model)}`;
    const key = manifestKey(this.baseURL, this.model);
    const stored = await cache.match(key);
    const headers = {};
    if (stored?.headers.get('ETag')) headers['If-None-Match'] = stored.headers.get('ETag');
    let res;
    try {
      res = await this.get(path, headers);
    } catch (err) {
      if (stored) return { manifest: await stored.json(), status: 'offline' };
      throw err;
    }
    if (res.status === 304 && stored) return { manifest: await stored.json(), status: 304 };
    if (!res.ok) throw new HTTPError(path, res.status, await errorText(res));
    const body = await res.text();
    await cache.put(key, new Response(body, { headers: { 'Content-Type': 'application/json', ETag: res.headers.get('ETag') ?? '' } }));
    return { manifest: JSON.parse(body), status: res.status };
  }

  /**
   * load makes the active version's file of the variant ready to score with and returns
   * what it loaded: { model, version, variant, sha256, sizeBytes, downloadedBytes,
   * source: 'network' | 'cache' | 'offline', manifestStatus, fileStatus, featureNames, inputWidth }.
   */
  async load() {
    const cache = await caches.open(this.cacheName);
    const { manifest, status: manifestStatus } = await this.manifest(cache);
    if (!manifest.active_version) throw new Error(`model ${this.model} has no active version`);
    const version = manifest.versions.find((v) => v.version === manifest.active_version);
    const file = version?.files.find((f) => f.variant === this.variant);
    if (!file) throw new Error(`model ${this.model} v${manifest.active_version} has no ${this.variant} file`);
    const info = {
      model: this.model, version: version.version, variant: this.variant, sha256: file.sha256,
      sizeBytes: file.size_bytes, downloadedBytes: 0, manifestStatus,
      featureNames: version.feature_names, inputWidth: version.input_width,
    };
    if (this.current?.info.sha256 === file.sha256) {
      return Object.assign(this.current.info, { source: 'memory', manifestStatus, fileStatus: null, downloadedBytes: 0 });
    }

    const key = modelKey(file.sha256);
    const cached = await cache.match(key);
    let bytes;
    try {
      const res = await this.get(file.url, cached ? { 'If-None-Match': `"${file.sha256}"` } : {});
      info.fileStatus = res.status;
      if (res.status === 304 && cached) {
        bytes = await cached.arrayBuffer();
        info.source = 'cache';
      } else if (res.ok) {
        bytes = await res.arrayBuffer();
        info.source = 'network';
        info.downloadedBytes = bytes.byteLength;
      } else {
        throw new HTTPError(file.url, res.status, await errorText(res));
      }
    } catch (err) {
      if (!cached || err instanceof HTTPError) throw err;
      bytes = await cached.arrayBuffer(); // offline: the copy verified when it was stored
      info.source = 'offline';
      info.fileStatus = null;
    }

    const got = await sha256(bytes);
    if (got !== file.sha256) {
      if (info.source !== 'network') await cache.delete(key);
      throw new VerificationError(
        `model ${this.model} v${version.version} ${this.variant}: sha256 ${got} of the ${bytes.byteLength} bytes received ` +
        `is not the manifest's ${file.sha256}; the file was refused and is not used`);
    }
    if (info.source === 'network') {
      await cache.put(key, new Response(bytes, {
        headers: { 'Content-Type': 'application/octet-stream', 'X-Model': this.model, 'X-Variant': this.variant, 'X-Version': String(version.version) },
      }));
    }
    await this.prune(cache, file.sha256);

    const ort = await this.runtime();
    const session = await ort.InferenceSession.create(new Uint8Array(bytes), { executionProviders: ['wasm'] });
    this.sessionsCreated++;
    const previous = this.current;
    this.current = { info, session };
    await previous?.session.release();
    return info;
  }

  /** prune drops the cached files of this model and variant other than sha256. */
  async prune(cache, keep) {
    for (const req of await cache.keys()) {
      if (!req.url.startsWith(modelKey('')) || req.url === modelKey(keep)) continue;
      const res = await cache.match(req);
      if (res?.headers.get('X-Model') === this.model && res.headers.get('X-Variant') === this.variant) {
        await cache.delete(req);
      }
    }
  }

  /** score scores one feature vector on the device: { score, ms }. */
  async score(vector) {
    if (!this.current) throw new Error('no model loaded: call load() first');
    const { info, session } = this.current;
    if (vector.length !== info.inputWidth) {
      throw new Error(`feature vector of ${vector.length} values: model ${info.model} v${info.version} takes ${info.inputWidth}`);
    }
    const input = new this.ort.Tensor('float32', Float32Array.from(vector, Number), [1, info.inputWidth]);
    const t0 = performance.now();
    const out = await session.run({ [session.inputNames[0]]: input });
    const ms = performance.now() - t0;
    return { score: out[session.outputNames[0]].data[0], ms };
  }

  /** features returns an entity's merged feature vector from the platform. */
  async features(id) {
    const f = await this.getJSON(`/v1/entities/${encodeURIComponent(id)}/features`);
    const want = this.current?.info.featureNames;
    if (want && want.join() !== f.feature_names.join()) {
      throw new Error(`entity ${id}: the platform's features [${f.feature_names}] are not the model's [${want}]`);
    }
    return f;
  }

  /** prediction returns the platform's merged prediction of an entity (scored there in fp32). */
  async prediction(id) {
    return this.getJSON(`/v1/entities/${encodeURIComponent(id)}/prediction`);
  }

  /** predictions returns the platform's predictions of up to 1000 entities in one request. */
  async predictions(ids) {
    const path = '/v1/predictions:batchGet';
    const headers = { 'Content-Type': 'application/json' };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    const res = await fetch(this.baseURL + path, { method: 'POST', headers, body: JSON.stringify({ ids }) });
    if (!res.ok) throw new HTTPError(path, res.status, await errorText(res));
    return res.json();
  }

  /**
   * scoreEntity scores an entity on the device, with its features from the platform, next
   * to the platform's own score: { id, vector, device: { score, ms }, server, model }.
   */
  async scoreEntity(id) {
    const [features, server] = await Promise.all([this.features(id), this.prediction(id)]);
    const device = await this.score(features.vector);
    return { id, vector: features.vector, device, server, model: this.current.info };
  }
}

async function errorText(res) {
  try {
    const body = await res.json();
    return body.error ?? '';
  } catch {
    return '';
  }
}
