//! Accept errors pause the server's accept loop; they do not end it. Out of file descriptors,
//! a connection waits in the backlog unserved, and is served once descriptors are free again.
//!
//! A test binary of its own: it lowers this process's open-file limit and fills it, which would
//! break any test running beside it.
#![cfg(unix)]

use std::fs::File;
use std::time::Duration;

use connector_runtime::prelude::*;
use connector_runtime::server::{self, ServerConfig};
use connector_runtime::store::MemoryStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// The open-file limit: (soft, hard).
fn open_file_limit() -> (libc::rlim_t, libc::rlim_t) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct it is given, nothing else.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
    (limit.rlim_cur, limit.rlim_max)
}

fn set_open_file_limit(soft: libc::rlim_t, hard: libc::rlim_t) {
    let limit = libc::rlimit { rlim_cur: soft, rlim_max: hard };
    // SAFETY: setrlimit reads the struct it is given, nothing else.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
}

#[tokio::test]
async fn the_server_keeps_accepting_after_running_out_of_file_descriptors() {
    let engine = Engine::builder().store(MemoryStore::new()).build().unwrap();
    let config = ServerConfig::default().bind("127.0.0.1:0".parse().unwrap());
    let server = server::start(engine, config).await.unwrap();
    // Made now, connected later: connecting needs no new descriptor, accepting does.
    let socket = TcpSocket::new_v4().unwrap();

    let (soft, hard) = open_file_limit();
    set_open_file_limit(soft.min(256), hard);
    let mut filler = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(file) => filler.push(file),
            Err(error) => {
                assert_eq!(error.raw_os_error(), Some(libc::EMFILE), "{error}");
                break;
            }
        }
    }
    let mut stream = socket.connect(server.addr()).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let unserved = tokio::time::timeout(Duration::from_millis(500), stream.read_to_end(&mut answer)).await;
    assert!(unserved.is_err(), "closed or answered while out of descriptors: {answer:?}");

    drop(filler);
    set_open_file_limit(soft, hard);
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("served once descriptors are free")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.shutdown().await.unwrap();
}
