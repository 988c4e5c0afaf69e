// Package config parses and validates the pubtools-sign configuration file:
// the Python tool's signer sections (msg_signer, msg_batch_signer,
// cosign_signer) unchanged, plus the daemon's worker/nats/http/log sections.
// Every key can be overridden by an environment variable
// PUBTOOLS_SIGN_<SECTION>_<KEY>; the environment wins over the file.
//
// config knows nothing of brokers or signers: it only reads, defaults and
// checks values, and reports mistakes naming the key and the file.
//
// Stability: v0. The package is a documented Go API, but its exported
// identifiers may change between minor versions; each change is listed in
// CHANGELOG.md.
package config

import "time"

// EnvPrefix starts every environment override.
const EnvPrefix = "PUBTOOLS_SIGN_"

// File is the whole configuration file.
type File struct {
	MsgSigner      *MsgSigner      `yaml:"msg_signer" env:", prefix=MSG_SIGNER_, noinit"`
	MsgBatchSigner *MsgBatchSigner `yaml:"msg_batch_signer" env:", prefix=MSG_BATCH_SIGNER_, noinit"`
	CosignSigner   *CosignSigner   `yaml:"cosign_signer" env:", prefix=COSIGN_SIGNER_, noinit"`
	Worker         Worker          `yaml:"worker" env:", prefix=WORKER_"`
	NATS           NATS            `yaml:"nats" env:", prefix=NATS_"`
	HTTP           HTTP            `yaml:"http" env:", prefix=HTTP_"`
	Log            Log             `yaml:"log" env:", prefix=LOG_"`
	// Tenants is the policy: what each tenant (the <tenant> token of the
	// task subject) may ask for. Without it there is one tenant, "default",
	// with every configured signer and safe defaults (see Tenant).
	Tenants map[string]*Tenant `yaml:"tenants"`

	// Path is the file this configuration was read from ("" for defaults).
	Path string `yaml:"-"`
}

// MsgSigner is the msg_signer section: signing requests over AMQP 1.0.
type MsgSigner struct {
	// MessagingBrokers is a failover list of amqp:// or amqps:// URLs
	// (amqp://user:pass@host:port for SASL PLAIN). Required.
	MessagingBrokers []string `yaml:"messaging_brokers" env:"MESSAGING_BROKERS"`
	// MessagingCertKey is a PEM file holding the client key and certificate;
	// its subject CN (else UID) is the request creator.
	MessagingCertKey string `yaml:"messaging_cert_key" env:"MESSAGING_CERT_KEY"`
	// MessagingCACert is the CA bundle that signs the brokers' certificates.
	// Required with amqps:// brokers.
	MessagingCACert string `yaml:"messaging_ca_cert" env:"MESSAGING_CA_CERT"`
	// TopicSendTo is the request address, a Python str.format template over
	// the signer's keys and the operation's fields ({env}, {creator},
	// {task_id}, {worker_id}, ...); only plain {name} fields. Required.
	TopicSendTo Template `yaml:"topic_send_to" env:"TOPIC_SEND_TO"`
	// TopicListenTo is the reply address, templated like topic_send_to.
	// For the daemon on RabbitMQ prefer a wildcard one receiver serves,
	// e.g. /topic/robosignatory.{env}.client.{creator}.*. Required.
	TopicListenTo Template `yaml:"topic_listen_to" env:"TOPIC_LISTEN_TO"`
	// Environment is sent in the "environment" header ({env} in
	// templates). Required.
	Environment string `yaml:"environment" env:"ENVIRONMENT"`
	// Service is sent in the "service" header. Required.
	Service string `yaml:"service" env:"SERVICE"`
	// Timeout is the receive inactivity timeout in seconds; every expected
	// reply restarts it.
	Timeout int `yaml:"timeout" env:"TIMEOUT"`
	// Retries is how many timed-out receive rounds end a send cycle.
	Retries int `yaml:"retries" env:"RETRIES"`
	// SendRetries is how many send+receive cycles run before giving up;
	// unanswered requests are re-sent with the same request_id.
	SendRetries int `yaml:"send_retries" env:"SEND_RETRIES"`
	// MessageIDKey is the reply field (under "msg") holding the request_id.
	// Required.
	MessageIDKey string `yaml:"message_id_key" env:"MESSAGE_ID_KEY"`
	// LogLevel is accepted for compatibility; --log-level and log.level rule.
	LogLevel string `yaml:"log_level" env:"LOG_LEVEL"`
	// KeyAliases maps an alias given as signing key to the real key id.
	KeyAliases map[string]string `yaml:"key_aliases" env:"KEY_ALIASES"`
	// TaskIDAttribute names the body/header attribute carrying the task id.
	TaskIDAttribute string `yaml:"task_id_attribute" env:"TASK_ID_ATTRIBUTE"`

	// SendWindow bounds the unsettled request deliveries in flight per
	// operation (pipelining without unbounded buffering).
	SendWindow int `yaml:"send_window" env:"SEND_WINDOW"`
	// CreditWindow is the reply receiver's link credit, issued again only
	// when used up (a receiver topping credit up early stalls on RabbitMQ).
	CreditWindow int `yaml:"credit_window" env:"CREDIT_WINDOW"`
	// ConnectTimeout bounds one broker dial, TLS and SASL included.
	ConnectTimeout time.Duration `yaml:"connect_timeout" env:"CONNECT_TIMEOUT"`
	// MaxInFlight bounds the requests this process has sent to the signing
	// server and not yet seen answered, across all its operations; the
	// rest wait in the process (not in the broker, where they would
	// expire). The window adapts below it to the server's pace.
	MaxInFlight int `yaml:"max_in_flight" env:"MAX_IN_FLIGHT"`
	// TargetQueueDelay is how long requests may wait at the server side
	// (round trip above the lowest seen) before the in-flight window
	// shrinks; at most a tenth of timeout × retries is used.
	TargetQueueDelay time.Duration `yaml:"target_queue_delay" env:"TARGET_QUEUE_DELAY"`
	// WriteCoalesce is how long an AMQP frame may wait to go out in one
	// write with the frames that follow it, when the connection wrote less
	// than this ago (an idle connection writes at once). Under a daemon's
	// load it spares the broker a wake-up per request; 0 turns it off.
	WriteCoalesce time.Duration `yaml:"write_coalesce" env:"WRITE_COALESCE"`
}

// MsgBatchSigner is the msg_batch_signer section: container claims grouped
// into chunks, one request per chunk.
type MsgBatchSigner struct {
	MsgSigner `yaml:",inline"`
	// ChunkSize is the most claims one batch request carries.
	ChunkSize int `yaml:"chunk_size" env:"CHUNK_SIZE"`
}

// CosignSigner is the cosign_signer section: signatures made by the cosign
// binary and pushed to the image's registry.
type CosignSigner struct {
	// CosignBin is the cosign executable.
	CosignBin string `yaml:"cosign_bin" env:"COSIGN_BIN"`
	// Timeout is cosign's -t flag, a Go duration such as "3m0s".
	Timeout string `yaml:"timeout" env:"TIMEOUT"`
	// NumThreads is how many repositories are signed in parallel.
	NumThreads int `yaml:"num_threads" env:"NUM_THREADS"`
	// RekorURL is the transparency log cosign uploads to.
	RekorURL string `yaml:"rekor_url" env:"REKOR_URL"`
	// UploadTlog turns the transparency log upload on.
	UploadTlog *bool `yaml:"upload_tlog" env:"UPLOAD_TLOG"`
	// AllowHTTPRegistry lets cosign talk plain HTTP to registries.
	AllowHTTPRegistry bool `yaml:"allow_http_registry" env:"ALLOW_HTTP_REGISTRY"`
	// AllowInsecureRegistry skips registry TLS verification.
	AllowInsecureRegistry bool `yaml:"allow_insecure_registry" env:"ALLOW_INSECURE_REGISTRY"`
	// RegistryUser and RegistryPassword log in to the registry; the password
	// reaches cosign only through a private DOCKER_CONFIG.
	RegistryUser     string `yaml:"registry_user" env:"REGISTRY_USER"`
	RegistryPassword string `yaml:"registry_password" env:"REGISTRY_PASSWORD"`
	// RegistryAuthFile is a docker config.json to use instead.
	RegistryAuthFile string `yaml:"registry_auth_file" env:"REGISTRY_AUTH_FILE"`
	// EnvVariables are set in cosign's environment.
	EnvVariables map[string]string `yaml:"env_variables" env:"ENV_VARIABLES"`
	// KeyAliases maps an alias given as signing key to the real key. The
	// daemon signs only with these aliases (an allow-list): a raw key
	// reference in a task (a file, http://, env://) is refused.
	KeyAliases map[string]string `yaml:"key_aliases" env:"KEY_ALIASES"`
	// Registries are the registry hosts (host[:port]) the daemon writes the
	// registry credentials for; references elsewhere get none. The CLI
	// also writes them for the registries of its own command line.
	Registries []string `yaml:"registries" env:"REGISTRIES"`
	// Retries is how many times a failing reference is tried.
	Retries int `yaml:"retries" env:"RETRIES"`
	// LogLevel is accepted for compatibility.
	LogLevel string `yaml:"log_level" env:"LOG_LEVEL"`
}

// Worker configures the daemon's task processing.
type Worker struct {
	// ID names this replica (default hostname-pid); it may appear in
	// topic_listen_to as {worker_id}.
	ID string `yaml:"id" env:"ID"`
	// Concurrency is the number of tasks in flight per replica.
	Concurrency int `yaml:"concurrency" env:"CONCURRENCY"`
	// ShutdownGrace is how long SIGTERM waits for in-flight tasks.
	ShutdownGrace time.Duration `yaml:"shutdown_grace" env:"SHUTDOWN_GRACE"`
	// MaxTaskBytes is the largest task message accepted; larger ones get
	// an error envelope.
	MaxTaskBytes int `yaml:"max_task_bytes" env:"MAX_TASK_BYTES"`
	// MaxRequestsPerTask bounds the signing requests one task makes
	// (references × keys, inputs × keys; batch: claims × keys): a task
	// over it gets an error envelope before anything is allocated per
	// request. The default lets a 10,000-reference release with 10 keys
	// through.
	MaxRequestsPerTask int `yaml:"max_requests_per_task" env:"MAX_REQUESTS_PER_TASK"`
	// MaxInputBytes bounds the bytes a msg-clear or msg-blob task asks to
	// have signed: the sum of its inputs' lengths times its keys.
	MaxInputBytes int `yaml:"max_input_bytes" env:"MAX_INPUT_BYTES"`
	// MaxCosignProcesses bounds the cosign processes a replica runs at
	// once, over all its tasks: each task runs up to
	// cosign_signer.num_threads, so concurrency tasks could otherwise
	// start concurrency × num_threads of them. Tasks wait for a free one
	// in arrival order.
	MaxCosignProcesses int `yaml:"max_cosign_processes" env:"MAX_COSIGN_PROCESSES"`
}

// NATS configures where tasks come from and results go to.
type NATS struct {
	// URL is the NATS server URL (several: comma separated); empty starts
	// an embedded server.
	URL string `yaml:"url" env:"URL"`
	// EmbeddedListen is where the embedded server listens.
	EmbeddedListen string `yaml:"embedded_listen" env:"EMBEDDED_LISTEN"`
	// DataDir holds the embedded server's JetStream data.
	DataDir string `yaml:"data_dir" env:"DATA_DIR"`
	// CredsFile is a NATS credentials file.
	CredsFile string `yaml:"creds_file" env:"CREDS_FILE"`
	// TLSCert is the client certificate for TLS to NATS; tls_key must be
	// set with it (the daemon refuses one without the other).
	TLSCert string `yaml:"tls_cert" env:"TLS_CERT"`
	// TLSKey is the client certificate's key; tls_cert must be set with it.
	TLSKey string `yaml:"tls_key" env:"TLS_KEY"`
	// TLSCA is the CA bundle that signs the NATS servers' certificates.
	TLSCA string `yaml:"tls_ca" env:"TLS_CA"`
	// TasksStream is the work-queue stream tasks are published to.
	TasksStream string `yaml:"tasks_stream" env:"TASKS_STREAM"`
	// TasksSubject is the subject filter of the tasks stream.
	TasksSubject string `yaml:"tasks_subject" env:"TASKS_SUBJECT"`
	// ResultsStream stores result envelopes for offline submitters.
	ResultsStream string `yaml:"results_stream" env:"RESULTS_STREAM"`
	// ResultsPrefix starts every result subject.
	ResultsPrefix string `yaml:"results_prefix" env:"RESULTS_PREFIX"`
	// Consumer is the name stem of the durable pull consumers replicas
	// share: one per signer, <consumer>-<signer>, filtering
	// <tasks prefix>.*.<signer>. serve creates those it serves when they
	// are missing and never changes existing ones.
	Consumer string `yaml:"consumer" env:"CONSUMER"`
	// RequestSubject is the NATS micro endpoint answering tasks sent as
	// core NATS requests.
	RequestSubject string `yaml:"request_subject" env:"REQUEST_SUBJECT"`
	// AckWait is how long a task may run without an ack before redelivery.
	AckWait time.Duration `yaml:"ack_wait" env:"ACK_WAIT"`
	// MaxDeliver bounds deliveries of one task; a task that reaches it
	// gets a final error envelope and leaves the tasks stream.
	MaxDeliver int `yaml:"max_deliver" env:"MAX_DELIVER"`
	// Tenant is the tenant `submit` publishes as (its --tenant default):
	// tasks go to <tasks prefix>.<tenant>.<signer>, envelopes come back on
	// <results_prefix>.<tenant>.<task_id>. "" means "default". The daemon
	// ignores it: a task's tenant is the subject it arrived on.
	Tenant string `yaml:"tenant" env:"TENANT"`

	// StreamReplicas is how many servers of a NATS cluster hold each
	// stream the daemon creates (1, 3 or 5; 1 on a single server). Streams
	// that exist already are left as they are. The tasks stream is created
	// with subjects [tasks_subject], work-queue retention, file storage and
	// a 10m duplicate window; the results stream with subjects
	// [results_prefix.>], limits retention, file storage, a 1h duplicate
	// window and max age results_max_age. Both get these replicas and
	// placement_tags.
	StreamReplicas int `yaml:"stream_replicas" env:"STREAM_REPLICAS"`
	// PlacementTags limit the streams the daemon creates to servers that
	// have every one of these server_tags (none: any server).
	PlacementTags []string `yaml:"placement_tags" env:"PLACEMENT_TAGS"`
	// ResultsMaxAge is how long the results stream keeps an envelope (0:
	// for ever); set when the daemon creates the stream.
	ResultsMaxAge time.Duration `yaml:"results_max_age" env:"RESULTS_MAX_AGE"`
	// PullExpiry is how long one pull request for tasks waits on the
	// server. Idle heartbeats come every quarter of it, so a pull lost in
	// a consumer leader change is replaced after at most half of it.
	PullExpiry time.Duration `yaml:"pull_expiry" env:"PULL_EXPIRY"`
	// StoreTimeout is how long a finished task keeps retrying to store its
	// envelope (and to ask whether one is stored) while the results stream
	// has no leader, before the task is handed back for later.
	StoreTimeout time.Duration `yaml:"store_timeout" env:"STORE_TIMEOUT"`
	// TasksMaxAge is how long a task waits in the tasks stream before it is
	// dropped (set when the stream is created).
	TasksMaxAge time.Duration `yaml:"tasks_max_age" env:"TASKS_MAX_AGE"`
	// ResultsBucket names the JetStream Object Store buckets holding
	// envelopes larger than the server's max payload, one per tenant:
	// <results_bucket>_<tenant>. The results stream then holds a small
	// envelope pointing at the object ("envelope_object").
	ResultsBucket string `yaml:"results_bucket" env:"RESULTS_BUCKET"`
}

// HTTP configures the health and metrics endpoint.
type HTTP struct {
	// Listen is the host:port of /healthz, /readyz and /metrics; "" turns
	// it off.
	Listen string `yaml:"listen" env:"LISTEN"`
}

// Log configures logging.
type Log struct {
	// Level is the log level: debug, info, warning or error.
	Level string `yaml:"level" env:"LEVEL"`
	// Format is the log format: auto (tint on a terminal, JSON otherwise),
	// text or json.
	Format string `yaml:"format" env:"FORMAT"`
	// RepeatLimit is how many records with the same level and message are
	// written per repeat_interval; further repeats are dropped and counted
	// in the next record that gets through. 0 turns the limit off.
	RepeatLimit int `yaml:"repeat_limit" env:"REPEAT_LIMIT"`
	// RepeatInterval is the window of repeat_limit.
	RepeatInterval time.Duration `yaml:"repeat_interval" env:"REPEAT_INTERVAL"`
}

// Tenant is one tenant's rights (tenants.<name>): what its tasks,
// published on <tasks prefix>.<name>.<signer>, may ask for. Lists are
// allow-lists: "*" allows any value, an omitted list allows none. The
// implicit "default" tenant (no tenants section) has signers, signing keys,
// key names and cosign keys "*", registries cosign_signer.registries (or
// "*" without them) and no requesters.
type Tenant struct {
	// Signers are the task signers the tenant may use (msg-container,
	// msg-clear, msg-blob, msg-batch-container, cosign-container).
	Signers []string `yaml:"signers"`
	// SigningKeys are the msg signer keys the tenant may sign with, as a
	// task names them (a key id or a msg key_aliases alias; an alias also
	// allows the task to name the key it stands for).
	SigningKeys []string `yaml:"signing_keys"`
	// SigningKeyNames are the signing_key_names values the tenant may send.
	SigningKeyNames []string `yaml:"signing_key_names"`
	// CosignKeys are the cosign_signer.key_aliases aliases the tenant may
	// sign with.
	CosignKeys []string `yaml:"cosign_keys"`
	// Registries are where the tenant's cosign references must be: registry
	// hosts (reg.io, localhost:5000) or host/namespace prefixes (reg.io/team).
	Registries []string `yaml:"registries"`
	// Requester is recorded as requested_by for the tenant's msg tasks;
	// "" records the certificate identity (CN, else UID).
	Requester string `yaml:"requester"`
	// Requesters are the names a task's requester field may give instead;
	// any other requester is refused.
	Requesters []string `yaml:"requesters"`
}
