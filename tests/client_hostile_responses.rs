//! The client against a local TCP server that answers badly on purpose: malformed and
//! truncated JSON, HTML error pages, wrong content types, a 50 MB body (declared and
//! streamed), a slow drip, a hang, a connection dropped mid-answer.
//!
//! Every case ends with a specific `ErrorKind`, within a time bounded by the client's
//! per-attempt timeout (asserted with a generous outer limit, never as a speed), without
//! reading more than the client's body limit, and with no secret in the error text.
//! The server speaks raw HTTP/1.1 over TCP so it can lie about lengths and stall mid-body.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use ram_operator::alicloud::client::MAX_RESPONSE_BYTES;
use ram_operator::alicloud::{
    Client, ClientConfig, Endpoints, Error, ErrorKind, RetryPolicy, StaticProvider,
};
use reqwest::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SECRET: &str = "hostile-test-secret+/=";
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Far above any attempt's timeout: reaching it means the client hangs.
const OUTER_LIMIT: Duration = Duration::from_secs(60);

type Answer = Arc<dyn Fn(TcpStream, Arc<AtomicUsize>) -> BoxFuture<'static, ()> + Send + Sync>;

/// A server that reads each request's head and hands the socket to `answer`; counts the body
/// bytes `answer` managed to write.
struct Server {
    url: Url,
    written: Arc<AtomicUsize>,
}

async fn serve(answer: Answer) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let answer = answer.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0u8; 4096];
                while !head.windows(4).any(|window| window == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => head.extend_from_slice(&buffer[..read]),
                    }
                }
                answer(socket, counter).await;
            });
        }
    });
    Server { url, written }
}

/// An answer with a fixed status line, headers and body, written at once.
fn fixed(status: &str, content_type: &str, body: &'static [u8]) -> Answer {
    let status = status.to_string();
    let content_type = content_type.to_string();
    Arc::new(move |mut socket, _| {
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        Box::pin(async move {
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(body).await;
            let _ = socket.shutdown().await;
        })
    })
}

fn client(server: &Server, retry: RetryPolicy) -> Client {
    Client::new(ClientConfig {
        endpoints: Endpoints::all(server.url.clone()),
        allow_insecure: true,
        timeout: ATTEMPT_TIMEOUT,
        retry,
        ..ClientConfig::default()
    })
    .unwrap()
}

/// One `GetCallerIdentity` call, which must end (either way) well within [`OUTER_LIMIT`].
async fn call(server: &Server, retry: RetryPolicy) -> Result<(), Error> {
    let client = client(server, retry);
    let provider = StaticProvider::access_key("LTAI5tHostile", SECRET);
    let result = tokio::time::timeout(OUTER_LIMIT, client.sts(&provider).get_caller_identity())
        .await
        .expect("the call did not end: the client hangs");
    if let Err(error) = &result {
        let text = error.to_string();
        assert!(!text.contains(SECRET), "secret in {text}");
        assert!(!text.contains("hostile-test-secret"), "secret in {text}");
    }
    result.map(|_| ())
}

async fn failure(answer: Answer) -> (Error, usize) {
    let server = serve(answer).await;
    let error = call(&server, RetryPolicy::never())
        .await
        .expect_err("a hostile answer was accepted");
    (error, server.written.load(Ordering::SeqCst))
}

#[tokio::test]
async fn malformed_and_truncated_json_are_decode_errors_that_quote_nothing() {
    for body in [
        &br#"{"RequestId":"R","Arn":"#[..],
        b"{\"RequestId\":\"R\",\"Arn\":\"acs:ram::1:root\"",
        b"",
        b"null",
        b"[1,2,3]",
        b"\xff\xfe\x00garbage",
        br#"{"RequestId":"R","Arn":{"nested":["deep"]}}"#,
    ] {
        let (error, _) = failure(fixed("200 OK", "application/json", body)).await;
        assert_eq!(error.kind(), ErrorKind::Decode, "{error}");
        assert!(!error.to_string().contains("acs:ram"), "{error}");
    }
}

#[tokio::test]
async fn html_error_pages_keep_the_status_classification() {
    let page: &'static [u8] =
        b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";
    for (status, kind) in [
        ("502 Bad Gateway", ErrorKind::Transient),
        ("503 Service Unavailable", ErrorKind::Transient),
        ("429 Too Many Requests", ErrorKind::Throttled),
        ("403 Forbidden", ErrorKind::AccessDenied),
        ("404 Not Found", ErrorKind::NotFound),
        ("400 Bad Request", ErrorKind::Other),
    ] {
        let (error, _) = failure(fixed(status, "text/html", page)).await;
        assert_eq!(error.kind(), kind, "{status}: {error}");
        assert_eq!(error.code(), None);
        assert!(!error.message().contains("<html>"), "{error}");
    }
    // A 200 HTML page (a captive portal, a proxy login) is not an identity.
    let (error, _) = failure(fixed("200 OK", "text/html", page)).await;
    assert_eq!(error.kind(), ErrorKind::Decode);
}

#[tokio::test]
async fn content_type_is_not_trusted_either_way() {
    // Valid JSON under a wrong content type is still read (gateways mislabel answers) ...
    let server = serve(fixed(
        "200 OK",
        "text/plain",
        br#"{"RequestId":"R","AccountId":"1","Arn":"acs:ram::1:root","IdentityType":"Account"}"#,
    ))
    .await;
    call(&server, RetryPolicy::never()).await.unwrap();
    // ... and a JSON content type does not make garbage decodable.
    let (error, _) = failure(fixed("200 OK", "application/json", b"<xml/>")).await;
    assert_eq!(error.kind(), ErrorKind::Decode);
}

#[tokio::test]
async fn a_declared_50_mb_body_is_refused_unread() {
    let answer: Answer = Arc::new(|mut socket, written| {
        Box::pin(async move {
            let total = 50 * 1024 * 1024;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {total}\r\n\r\n"
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let chunk = vec![b' '; 64 * 1024];
            let mut sent = 0;
            while sent < total {
                if socket.write_all(&chunk).await.is_err() {
                    break;
                }
                sent += chunk.len();
                written.fetch_add(chunk.len(), Ordering::SeqCst);
            }
        })
    });
    let (error, written) = failure(answer).await;
    assert_eq!(error.kind(), ErrorKind::Decode, "{error}");
    assert!(error.message().contains("larger than"), "{error}");
    assert!(
        written < 50 * 1024 * 1024,
        "the whole body was sent: {written}"
    );
}

#[tokio::test]
async fn a_streamed_50_mb_body_is_cut_at_the_limit() {
    let answer: Answer = Arc::new(|mut socket, written| {
        Box::pin(async move {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
            let _ = socket.write_all(head.as_bytes()).await;
            let chunk = vec![b' '; 64 * 1024];
            let framed = [
                format!("{:x}\r\n", chunk.len()).into_bytes(),
                chunk,
                b"\r\n".to_vec(),
            ]
            .concat();
            for _ in 0..800 {
                if socket.write_all(&framed).await.is_err() {
                    return;
                }
                written.fetch_add(64 * 1024, Ordering::SeqCst);
            }
            let _ = socket.write_all(b"0\r\n\r\n").await;
        })
    });
    let (error, written) = failure(answer).await;
    assert_eq!(error.kind(), ErrorKind::Decode, "{error}");
    assert!(error.message().contains("larger than"), "{error}");
    // The client stopped reading near its limit; socket buffers hold a few MB at most.
    assert!(
        written < MAX_RESPONSE_BYTES + 16 * 1024 * 1024,
        "server could write {written} bytes"
    );
}

#[tokio::test]
async fn a_slow_drip_and_a_hang_end_at_the_attempt_timeout() {
    let drip: Answer = Arc::new(|mut socket, written| {
        Box::pin(async move {
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{")
                .await;
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if socket.write_all(b" ").await.is_err() {
                    return;
                }
                written.fetch_add(1, Ordering::SeqCst);
            }
        })
    });
    let hang: Answer = Arc::new(|socket, _| {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_secs(600)).await;
            drop(socket);
        })
    });
    let headers_then_hang: Answer = Arc::new(|mut socket, _| {
        Box::pin(async move {
            let _ = socket
                .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 50\r\n\r\n")
                .await;
            tokio::time::sleep(Duration::from_secs(600)).await;
        })
    });
    for answer in [drip, hang, headers_then_hang] {
        let (error, _) = failure(answer).await;
        assert_eq!(error.kind(), ErrorKind::Transport, "{error}");
        assert!(error.message().contains("timed out"), "{error}");
    }
}

#[tokio::test]
async fn dropped_connections_and_lying_lengths_are_transport_errors() {
    let close_at_once: Answer = Arc::new(|socket, _| Box::pin(async move { drop(socket) }));
    let truncated: Answer = Arc::new(|mut socket, _| {
        Box::pin(async move {
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n{\"RequestId\":\"R\"")
                .await;
            let _ = socket.shutdown().await;
        })
    });
    let not_http: Answer = Arc::new(|mut socket, _| {
        Box::pin(async move {
            let _ = socket.write_all(b"SSH-2.0-OpenSSH_9.6\r\n").await;
            let _ = socket.shutdown().await;
        })
    });
    for answer in [close_at_once, truncated, not_http] {
        let (error, _) = failure(answer).await;
        assert_eq!(error.kind(), ErrorKind::Transport, "{error}");
    }
}

#[tokio::test]
async fn retried_hostile_answers_stay_within_the_retry_budget() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let seen = attempts.clone();
    let answer: Answer = Arc::new(move |mut socket, _| {
        seen.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let body = b"<html>503</html>";
            let head = format!(
                "HTTP/1.1 503 Service Unavailable\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(body).await;
        })
    });
    let server = serve(answer).await;
    let retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_elapsed: Duration::from_secs(20),
    };
    let error = call(&server, retry).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transient);
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
}
