//! A local RAM / IMS / STS emulator that speaks the real wire protocol, so the official SDKs,
//! the operator and the tests can run without Alibaba Cloud.
//!
//! One port serves RAM (`2015-05-01`), IMS (`2019-08-15`) and STS (`2015-04-01`); requests are
//! routed on `Version` / `Action` (or `x-acs-version` / `x-acs-action`). A request is parsed
//! (`request`), authenticated (`auth`), possibly hit by an injected fault (`faults`), then run
//! by the operation (`ram`, `ims`, `sts`) against the store (`state`) under one short lock
//! that is never held across an await. Admin endpoints live under `/_emulator/`.
//!
//! This module wires HTTP to those parts; it knows no operation's rules.

pub mod accounts;
pub mod admin;
pub mod auth;
pub mod authz;
pub mod calls;
pub mod common;
pub mod errors;
pub mod faults;
pub mod ims;
pub mod oidc;
pub mod ram;
pub mod request;
pub mod state;
pub mod sts;
pub mod users;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use self::accounts::AccountsFile;
use self::auth::{Caller, NonceCache};
use self::calls::Calls;
use self::common::Ctx;
use self::errors::{ApiError, ApiResult};
use self::faults::{FaultSet, Faults};
use self::oidc::OidcProvider;
use self::request::{ApiRequest, Service, SignatureStyle};
use self::state::{World, ids};

/// Command-line options of `ram-operator emulator`.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on.
    #[arg(
        long,
        default_value = "127.0.0.1:18080",
        env = "RAM_OPERATOR_EMULATOR_LISTEN"
    )]
    pub listen: SocketAddr,
    /// Accounts file (YAML): `accounts: [{id, alias, accessKeys: [{id, secret}]}]`.
    #[arg(long, env = "RAM_OPERATOR_EMULATOR_ACCOUNTS")]
    pub accounts: PathBuf,
    /// A token of N seconds lives N*F seconds of wall time (its `Expiration` says so).
    #[arg(
        long,
        default_value_t = 1.0,
        env = "RAM_OPERATOR_EMULATOR_EXPIRY_SCALE"
    )]
    pub expiry_scale: f64,
    /// Persist the state as JSON here on shutdown and load it on start.
    #[arg(long, env = "RAM_OPERATOR_EMULATOR_STATE_FILE")]
    pub state_file: Option<PathBuf>,
}

/// What a running emulator is built from.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// The accounts and their root keys.
    pub accounts: AccountsFile,
    /// OIDC providers with loaded keys.
    pub oidc: Vec<OidcProvider>,
    /// `--expiry-scale`.
    pub expiry_scale: f64,
    /// State to start from (loaded from `--state-file`); accounts are merged into it.
    pub initial_world: Option<World>,
}

impl EmulatorConfig {
    /// A configuration with these accounts, no OIDC provider, real-time expiry.
    pub fn new(accounts: AccountsFile) -> Self {
        Self {
            accounts,
            oidc: Vec::new(),
            expiry_scale: 1.0,
            initial_world: None,
        }
    }

    /// Reads the accounts file (and JWKS files next to it) and the state file, if any.
    pub fn from_args(args: &EmulatorArgs) -> anyhow::Result<Self> {
        if !(args.expiry_scale > 0.0 && args.expiry_scale.is_finite()) {
            anyhow::bail!("--expiry-scale must be a positive number");
        }
        let accounts = AccountsFile::load(&args.accounts)?;
        let base = args.accounts.parent().unwrap_or(Path::new("."));
        let oidc = accounts
            .all_oidc_providers()
            .map(|spec| OidcProvider::load(spec, base))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let initial_world =
            match &args.state_file {
                Some(path) if path.exists() => {
                    let text = std::fs::read_to_string(path)?;
                    Some(serde_json::from_str(&text).map_err(|e| {
                        anyhow::anyhow!("invalid state file {}: {e}", path.display())
                    })?)
                }
                _ => None,
            };
        Ok(Self {
            accounts,
            oidc,
            expiry_scale: args.expiry_scale,
            initial_world,
        })
    }
}

struct Shared {
    world: Mutex<World>,
    nonces: NonceCache,
    faults: Faults,
    calls: Calls,
    oidc: Vec<OidcProvider>,
    expiry_scale: f64,
}

/// A running emulator.
pub struct EmulatorHandle {
    /// The bound address.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    shared: Arc<Shared>,
}

impl EmulatorHandle {
    /// `http://<addr>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A copy of the current state (secrets included: for tests and the state file).
    pub fn world(&self) -> World {
        self.shared
            .world
            .lock()
            .map(|w| w.clone())
            .unwrap_or_default()
    }

    /// Stops serving and returns the final state.
    pub async fn shutdown(mut self) -> World {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
        self.world()
    }
}

/// Serves the emulator on `listener` until the handle is shut down.
pub async fn serve(
    listener: TcpListener,
    config: EmulatorConfig,
) -> anyhow::Result<EmulatorHandle> {
    config
        .accounts
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid accounts: {e}"))?;
    let mut world = config.initial_world.unwrap_or_default();
    world.merge_accounts(&config.accounts);
    let shared = Arc::new(Shared {
        world: Mutex::new(world),
        nonces: NonceCache::default(),
        faults: Faults::default(),
        calls: Calls::default(),
        oidc: config.oidc,
        expiry_scale: config.expiry_scale,
    });
    let app = Router::new()
        .route("/", get(api).post(api))
        .route("/_emulator/health", get(health))
        .route("/_emulator/state", get(state_endpoint))
        .route("/_emulator/calls", get(calls_get).delete(calls_delete))
        .route(
            "/_emulator/faults",
            get(faults_get).post(faults_post).delete(faults_delete),
        )
        .with_state(shared.clone());
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(error) = server.await {
            tracing::error!(%error, "emulator server failed");
        }
    });
    Ok(EmulatorHandle {
        addr,
        shutdown: Some(tx),
        task,
        shared,
    })
}

/// Runs `ram-operator emulator` until SIGINT / SIGTERM, then saves the state file.
pub async fn run(args: EmulatorArgs) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .try_init();
    let config = EmulatorConfig::from_args(&args)?;
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let handle = serve(listener, config).await?;
    tracing::info!(addr = %handle.addr, "emulator serving RAM, IMS and STS");
    shutdown_signal().await;
    let world = handle.shutdown().await;
    if let Some(path) = &args.state_file {
        let text = serde_json::to_string_pretty(&world)?;
        std::fs::write(path, text)
            .map_err(|e| anyhow::anyhow!("cannot write state file {}: {e}", path.display()))?;
        tracing::info!(path = %path.display(), "state saved");
    }
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=utf-8"),
    );
    response
}

async fn health() -> &'static str {
    "ok"
}

async fn state_endpoint(State(shared): State<Arc<Shared>>) -> Response {
    let view = match shared.world.lock() {
        Ok(world) => admin::state_view(&world, Timestamp::now()),
        Err(_) => json!({"error": "state lock poisoned"}),
    };
    json_response(StatusCode::OK, &view)
}

async fn calls_get(State(shared): State<Arc<Shared>>) -> Response {
    json_response(StatusCode::OK, &shared.calls.snapshot())
}

async fn calls_delete(State(shared): State<Arc<Shared>>) -> Response {
    shared.calls.reset();
    json_response(StatusCode::OK, &shared.calls.snapshot())
}

async fn faults_get(State(shared): State<Arc<Shared>>) -> Response {
    json_response(StatusCode::OK, &json!(shared.faults.get()))
}

async fn faults_post(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let set: FaultSet = match serde_json::from_slice(&body) {
        Ok(set) => set,
        Err(e) => {
            return json_response(StatusCode::BAD_REQUEST, &json!({"error": e.to_string()}));
        }
    };
    if let Err(e) = set.validate() {
        return json_response(StatusCode::BAD_REQUEST, &json!({"error": e}));
    }
    shared.faults.set(set);
    json_response(StatusCode::OK, &json!(shared.faults.get()))
}

async fn faults_delete(State(shared): State<Arc<Shared>>) -> Response {
    shared.faults.clear();
    json_response(StatusCode::OK, &json!(shared.faults.get()))
}

/// Who to count a call against when authentication did not get far.
fn presented_key(request: &ApiRequest) -> String {
    match request.style {
        SignatureStyle::V2 => request
            .param("AccessKeyId")
            .unwrap_or("unknown")
            .to_string(),
        SignatureStyle::V3 => request
            .header("authorization")
            .and_then(crate::alicloud::signature::parse_v3_authorization)
            .map(|a| a.access_key_id)
            .unwrap_or_else(|| "unknown".to_string()),
        SignatureStyle::Anonymous => "anonymous".to_string(),
    }
}

async fn process(
    shared: &Shared,
    request: &ApiRequest,
    now: Timestamp,
) -> (String, ApiResult<Value>) {
    let anonymous_allowed =
        request.service == Service::Sts && request.action == "AssumeRoleWithOIDC";
    let caller: Caller = if anonymous_allowed && request.style == SignatureStyle::Anonymous {
        auth::anonymous()
    } else {
        let authenticated = match shared.world.lock() {
            Ok(world) => auth::authenticate(request, &world, &shared.nonces, now),
            Err(_) => Err(ApiError::new(
                500,
                "InternalError",
                "The state lock is poisoned.",
            )),
        };
        match authenticated {
            Ok(caller) => caller,
            Err(e) => return (presented_key(request), Err(e)),
        }
    };
    let label = caller.arn();
    let mut response_latency_ms = 0;
    if let Some(injection) = shared.faults.decide(&request.action) {
        if injection.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(injection.latency_ms)).await;
        }
        if let Some(error) = injection.error {
            return (label, Err(error));
        }
        response_latency_ms = injection.response_latency_ms;
    }
    let result = run_operation(shared, request, &caller, now);
    if response_latency_ms > 0 {
        // The change is made; only the answer is late (a dropped connection does not undo it).
        tokio::time::sleep(Duration::from_millis(response_latency_ms)).await;
    }
    (label, result)
}

/// Runs the operation under the state lock (never held across an await).
fn run_operation(
    shared: &Shared,
    request: &ApiRequest,
    caller: &Caller,
    now: Timestamp,
) -> ApiResult<Value> {
    let Ok(mut world) = shared.world.lock() else {
        return Err(ApiError::new(
            500,
            "InternalError",
            "The state lock is poisoned.",
        ));
    };
    let mut ctx = Ctx {
        world: &mut world,
        caller,
        now,
        expiry_scale: shared.expiry_scale,
        oidc: &shared.oidc,
    };
    let outcome = match request.service {
        Service::Ram => ram::handle(request, &mut ctx),
        Service::Ims => ims::handle(request, &mut ctx),
        Service::Sts => sts::handle(request, &mut ctx),
    };
    outcome.unwrap_or_else(|| {
        Err(ApiError::not_found(
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
        ))
    })
}

async fn api(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = ids::request_id();
    let now = Timestamp::now();
    let request = match ApiRequest::parse(method.as_str(), uri.query(), headers, body.to_vec()) {
        Ok(request) => request,
        Err(error) => {
            shared.calls.record("unknown", "unknown", &error.code);
            let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
            return json_response(status, &error.body(&request_id, "aliyuncs.com", "Ram"));
        }
    };
    let (caller, result) = process(&shared, &request, now).await;
    match result {
        Ok(mut body) => {
            shared.calls.record(&request.action, &caller, "Success");
            tracing::debug!(action = %request.action, %caller, "success");
            if let Some(map) = body.as_object_mut() {
                map.insert("RequestId".to_string(), json!(request_id));
            }
            json_response(StatusCode::OK, &body)
        }
        Err(error) => {
            shared.calls.record(&request.action, &caller, &error.code);
            tracing::debug!(action = %request.action, %caller, code = %error.code, "error");
            let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
            json_response(
                status,
                &error.body(
                    &request_id,
                    request.service.host_id(),
                    request.service.product(),
                ),
            )
        }
    }
}
