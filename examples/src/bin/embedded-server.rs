//! The README's embedding quick start: an FTP server inside an application, serving
//! generated content from memory to one user and logging what happens.
//! Run it with `cargo run --bin embedded-server`, then `curl ftp://alice:s3cret@127.0.0.1:2121/`.

use ftp_server_tokio::auth::{Permissions, StaticUsers, UserEntry};
use ftp_server_tokio::ftp_proto::VirtualPath;
use ftp_server_tokio::server::Server;
use ftp_server_tokio::storage::memory::MemoryStorage;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().init();
    let storage = MemoryStorage::new().with_file("/report.csv", "day,visits\nmonday,42\n");
    let alice = UserEntry::new("alice", "s3cret", VirtualPath::root(), Permissions::ALL);
    let server = Server::new(storage, StaticUsers::new([alice])?)
        .listen("127.0.0.1:2121".parse()?)
        .passive_ports(50000..=50100)
        .on_event(|event| tracing::info!(?event, "ftp event"))
        .bind()
        .await?;
    let ctrl_c = async { tokio::signal::ctrl_c().await.unwrap_or(()) };
    server.run_until(ctrl_c).await;
    Ok(())
}
