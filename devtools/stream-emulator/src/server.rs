//! The HTTP/1.1 accept loop.
//!
//! Hand-rolled instead of `axum::serve` for one reason: the `drop` fault must close a
//! connection without writing any response, so a handler needs a handle on its connection.
//! (Panicking in the handler would also kill the connection task, but not under
//! `panic = "abort"`, which the workspace's release profile sets.)

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::request::Parts;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{Service, service_fn};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// Put in every request's extensions; `close()` makes the server drop the connection.
#[derive(Clone)]
pub struct ConnectionHandle(Arc<Notify>);

impl ConnectionHandle {
    pub fn close(&self) {
        // `notify_one` stores a permit, so this works even before the server awaits it.
        self.0.notify_one();
    }
}

/// Put in every request's extensions: the client's address (signed playback's `ip.src` rules).
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

/// Closes the request's connection with no response at all (the `drop` fault), then never
/// completes: the connection task drops this future together with the connection.
pub async fn drop_connection(parts: &Parts) -> Response {
    match parts.extensions.get::<ConnectionHandle>() {
        Some(connection) => connection.close(),
        None => crate::elog!("drop fault outside the emulator's server; hanging"),
    }
    std::future::pending().await
}

/// Serves `router` until `shutdown` completes.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    crate::elog!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        tokio::spawn(serve_connection(stream, peer, router.clone()));
    }
}

async fn serve_connection(stream: TcpStream, peer: SocketAddr, router: Router) {
    // Small JSON exchanges: do not let Nagle delay them.
    let _ = stream.set_nodelay(true);
    let closer = Arc::new(Notify::new());
    let handle = ConnectionHandle(Arc::clone(&closer));
    let router = TowerToHyperService::new(router);
    let service = service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(handle.clone());
        request.extensions_mut().insert(PeerAddr(peer));
        router.call(request)
    });
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        // Errors here are clients going away mid-exchange: nothing to report.
        _ = connection => {}
        // Dropping the connection future closes the socket with nothing written.
        () = closer.notified() => {}
    }
}

/// Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the future is
/// first polled: a signal sent right after the listening line must shut down cleanly (removing
/// the temporary data directory), not kill the process.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        async fn received(signal: Option<Signal>) {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        let interrupt = received(signal(SignalKind::interrupt()).ok());
        let terminate = received(signal(SignalKind::terminate()).ok());
        async move {
            tokio::select! {
                () = interrupt => {}
                () = terminate => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
