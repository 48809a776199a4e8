#![allow(dead_code)]
//! Starts moto's S3/Kinesis server (from the project's `.venv`) on a free loopback port for
//! the duration of a test, and creates buckets on it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server; killed on drop.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    pub endpoint: String,
    port: u16,
}

fn moto_binary() -> PathBuf {
    let venv = std::env::var("EVENTLAKE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv"));
    let bin = venv.join("bin/moto_server");
    assert!(
        bin.exists(),
        "{} not found: run scripts/venv.sh (installs moto[server] into .venv)",
        bin.display()
    );
    bin
}

impl Moto {
    pub fn start() -> Moto {
        Self::start_with(&[])
    }

    /// A server with settings of its own in its environment, e.g.
    /// `INITIAL_NO_AUTH_ACTION_COUNT=0`: every request's credentials are checked.
    pub fn start_with(env: &[(&str, &str)]) -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let child = Command::new(moto_binary())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while moto.request("GET", "/").is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    fn request(&self, method: &str, path: &str) -> std::io::Result<String> {
        self.send(method, path, &[], "")
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    }

    /// Calls a Kinesis API action (moto does not check signatures).
    pub fn kinesis(&self, action: &str, body: &str) -> String {
        let target = format!("Kinesis_20131202.{action}");
        let response = self
            .send(
                "POST",
                "/",
                &[
                    ("X-Amz-Target", &target),
                    ("Content-Type", "application/x-amz-json-1.1"),
                    (
                        "Authorization",
                        "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0",
                    ),
                ],
                body,
            )
            .expect("Kinesis request");
        assert!(response.starts_with("HTTP/1.1 200"), "{action}: {response}");
        response
    }

    pub fn create_stream(&self, name: &str, shards: u32) {
        self.kinesis(
            "CreateStream",
            &format!(r#"{{"StreamName":"{name}","ShardCount":{shards}}}"#),
        );
    }

    /// A lake on this server, with the fake credentials moto accepts (only loopback is used).
    pub fn lake(&self, bucket: &str, prefix: &str) -> ingest::storage::Lake {
        let store = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .build()
            .expect("s3 client");
        let root = object_store::path::Path::from(prefix);
        ingest::storage::Lake::new(
            std::sync::Arc::new(store),
            root,
            format!("s3://{bucket}/{prefix}"),
        )
    }

    /// Environment for child processes (`ingest`, `lakeq`) talking to this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    pub fn create_bucket(&self, bucket: &str) {
        let response = self.request("PUT", &format!("/{bucket}")).expect("create bucket");
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "creating bucket {bucket}: {response}"
        );
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
