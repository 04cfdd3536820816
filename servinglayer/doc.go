// Package servinglayer is the platform's HTTP API (echo/v4), spec first: the OpenAPI
// document in package api is served at /openapi.yaml, every request is authorized by
// its operation's security scheme and validated against it (oapi-codegen's
// echo-middleware over kin-openapi), and the handlers implement the strict server
// interface generated from it. The one exception is the inference body
// (x-lambda-checked-by-handler): online scoring's hot path decodes it once, into the
// typed request, and its handler checks the schema's rules. That body is read whatever
// its Content-Type, with the binary tensor data extension when it has an
// Inference-Header-Content-Length (package oip decodes the tensors).
//
// # Endpoints
//
//	GET  /v1/entities/{id}/prediction     merged prediction (package predict)
//	GET  /v1/entities/{id}/features       merged feature vector with names
//	POST /v1/predictions:batchGet         up to Config.BatchGetLimit ids
//	POST /v1/events                       one event or an array, produced to Kafka (202)
//	GET  /v1/batch/runs[/{id}], POST /v1/batch/runs (admin), GET /v1/batch/schedule
//	GET|HEAD /v1/models/{name}, GET|HEAD /v1/models/{name}/versions/{v}/{fp32|int8}.onnx, GET /v1/models
//	POST /v1/models/{name}/versions (multipart upload), .../activate, .../rollback (admin)
//	GET  /v2, /v2/health/{live,ready}, /v2/models/{name}[/versions/{v}][/ready]
//	POST /v2/models/{name}[/versions/{v}]/infer    Open Inference Protocol v2, [N, F] of any
//	                                      numeric datatype (converted to FP32), JSON or binary
//	GET  /healthz, /readyz, /metrics, /openapi.yaml
//	GET  /edge/, /edge/edge.js, /edge/ort/…   the browser client (package edgeclient), outside
//	                                      the OpenAPI document: not validated, no token
//
// # Behaviour
//
// Errors are {"error": "..."} with the RFC 9457 problem details fields and a stable
// code, as application/json: the one HTTPErrorHandler maps domain errors (not found,
// unavailable, invalid input, conflicts) to status codes and codes, adds Retry-After to
// 503s and to a busy batch lock, and logs only 5xx. Malformed
// JSON, wrong types and schema violations are 400 naming the field; a body over the
// limit 413; an unknown route 404; a known route with another method 405 (with Allow).
// Mutating endpoints need the admin bearer token (Config.AdminToken; without one
// configured they answer 403); reads and ingest need the read token only when
// Config.ReadToken is set, and accept the admin token too.
//
// Middleware, outermost first: recover, request id, CORS (Config.CORSOrigins; the read,
// infer and download endpoints), metrics, request log (debug level), gzip (not for
// model files, which are served with Range), context timeout, request body
// decompression (gzip, deflate), body limit (Config.MaxBodyBytes; Config.MaxModelBytes
// for model uploads; of the decompressed bytes), authorization and OpenAPI validation.
//
// # Metrics
//
// Registered on Deps.Registerer, besides those of package predict:
//
//	lambda_serving_requests_total                   counter    requests, by route, method and code
//	lambda_serving_request_duration_seconds         histogram  request duration, by route and method
//	lambda_serving_predictions_total                counter    merged answers, by source (batch, speed, kappa)
//	lambda_serving_degraded_predictions_total       counter    answers given with a view down
//	lambda_serving_events_total                     counter    events posted, by outcome (accepted, rejected)
//	lambda_serving_infer_rows_total                 counter    rows scored through the inference protocol, by model
//	lambda_serving_model_downloads_total            counter    GETs of a model's manifest or file, by model, variant
//	                                                           (manifest, fp32, int8) and result (ok, not_modified: 304)
//	lambda_serving_infer_cpu_seconds_total          counter    CPU seconds of scoring infer requests, by model (thread
//	                                                           clock of one request in 16, counted 16 times)
//	lambda_serving_answer_staleness_seconds         histogram  served answers' staleness (serve time − as_of), by source
//	lambda_serving_answer_duration_seconds          histogram  lookup and merge of one entity's answer, by source
//	                                                           (single-entity requests)
//
// GET /v1/tradeoffs (Deps.Tradeoffs, package internal/tradeoffs) differences these and
// the speed layer's lambda_speed_cpu_seconds_total over a window.
package servinglayer
