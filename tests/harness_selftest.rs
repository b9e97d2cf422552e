//! Tests of the test harness itself (`templesync_tests::MongoServer`).

use std::time::Duration;

use bson::{Document, doc};
use mongodb::error::ErrorKind;
use mongodb::options::{ClientOptions, WriteConcern};
use mongodb::{Client, Collection};
use templesync_tests::{FailMode, MongoServer, ServerOptions};

async fn users(server: &MongoServer) -> Collection<Document> {
    server
        .client()
        .await
        .database("selftest")
        .collection("users")
}

/// A client that gives up quickly and does not retry, to observe failures as they are.
async fn raw_client(server: &MongoServer) -> Client {
    let mut options = ClientOptions::parse(server.url()).await.unwrap();
    options.server_selection_timeout = Some(Duration::from_secs(2));
    options.retry_writes = Some(false);
    options.retry_reads = Some(false);
    Client::with_options(options).unwrap()
}

fn command_code(err: &mongodb::error::Error) -> Option<i32> {
    match &*err.kind {
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::Write(mongodb::error::WriteFailure::WriteError(w)) => Some(w.code),
        _ => None,
    }
}

#[tokio::test]
async fn two_servers_are_independent_and_data_survives_restart() {
    let (a, b) = tokio::join!(
        MongoServer::start_with(ServerOptions::new().sync_on_commit()),
        MongoServer::start()
    );
    let (mut a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.port(), b.port());
    assert_eq!(
        a.url(),
        format!("mongodb://127.0.0.1:{}/?directConnection=true", a.port())
    );
    assert!(a.is_running());

    users(&a)
        .await
        .insert_one(doc! { "_id": 1, "username": "ada" })
        .await
        .unwrap();
    assert_eq!(users(&b).await.count_documents(doc! {}).await.unwrap(), 0);

    let port = a.port();
    a.restart().await.unwrap();
    assert_eq!(a.port(), port);
    let got = users(&a).await.find_one(doc! { "_id": 1 }).await.unwrap();
    assert_eq!(got, Some(doc! { "_id": 1, "username": "ada" }));
    assert!(a.log_contents().contains("listening on"));
}

#[tokio::test]
async fn killed_server_is_down_and_keeps_journaled_writes() {
    let mut server = MongoServer::start().await.unwrap();
    let coll = users(&server).await;
    // No --sync-on-commit here: j:true makes this write survive a SIGKILL.
    coll.insert_one(doc! { "_id": 7 })
        .with_options(
            mongodb::options::InsertOneOptions::builder()
                .write_concern(WriteConcern::builder().journal(true).build())
                .build(),
        )
        .await
        .unwrap();

    server.kill();
    assert!(!server.is_running());
    let down = raw_client(&server).await;
    let err = down
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await
        .expect_err("ping must fail while the server is killed");
    assert!(
        matches!(*err.kind, ErrorKind::ServerSelection { .. }),
        "unexpected error: {err}"
    );

    server.restart().await.unwrap();
    assert!(server.is_running());
    assert_eq!(
        users(&server)
            .await
            .count_documents(doc! { "_id": 7 })
            .await
            .unwrap(),
        1
    );

    server.stop().await;
    assert!(!server.is_running());
}

#[tokio::test]
async fn fail_point_fails_one_insert_then_lets_the_next_through() {
    let server = MongoServer::start().await.unwrap();
    let coll = raw_client(&server)
        .await
        .database("selftest")
        .collection::<Document>("users");

    // An error code (2 = BadValue, not retryable).
    server
        .fail_command(&["insert"], 1, FailMode::ErrorCode(2))
        .await;
    let err = coll.insert_one(doc! { "_id": 1 }).await.unwrap_err();
    assert_eq!(command_code(&err), Some(2), "unexpected error: {err}");
    coll.insert_one(doc! { "_id": 1 }).await.unwrap();

    // A closed connection (a network error: the raw client does not retry).
    server
        .fail_command(&["insert"], 1, FailMode::CloseConnection)
        .await;
    let err = coll.insert_one(doc! { "_id": 2 }).await.unwrap_err();
    assert!(
        matches!(
            *err.kind,
            ErrorKind::Io(_) | ErrorKind::ConnectionPoolCleared { .. }
        ),
        "unexpected error: {err:?}"
    );
    coll.insert_one(doc! { "_id": 2 }).await.unwrap();

    // Other commands are not affected, and clearing disarms it.
    server
        .fail_command(&["insert"], 100, FailMode::ErrorCode(2))
        .await;
    assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 2);
    server.clear_fail_points().await;
    coll.insert_one(doc! { "_id": 3 }).await.unwrap();
    assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 3);
}

#[tokio::test]
async fn extra_args_are_passed() {
    let server = MongoServer::start_with(
        ServerOptions::new()
            .enable_test_commands(false)
            .oplog_max_entries(10),
    )
    .await
    .unwrap();
    let client = server.client().await;
    let err = client
        .database("admin")
        .run_command(doc! { "configureFailPoint": "failCommand", "mode": "off" })
        .await
        .expect_err("configureFailPoint must be refused without --enable-test-commands");
    assert!(matches!(*err.kind, ErrorKind::Command(_)), "{err}");
}

#[tokio::test]
async fn auth_can_be_turned_on_for_a_restart() {
    let mut server = MongoServer::start().await.unwrap();
    server
        .client()
        .await
        .database("admin")
        .run_command(doc! {
            "createUser": "app", "pwd": "secret", "roles": [{"role": "root", "db": "admin"}]
        })
        .await
        .unwrap();
    server.options_mut().extra_args.push("--auth".into());
    server.restart().await.unwrap();

    let anonymous = raw_client(&server).await;
    let err = anonymous
        .database("selftest")
        .collection::<Document>("users")
        .insert_one(doc! { "_id": 1 })
        .await
        .expect_err("an unauthenticated insert must be refused under --auth");
    assert_eq!(command_code(&err), Some(13), "unexpected error: {err}");

    let url = format!(
        "mongodb://app:secret@127.0.0.1:{}/?directConnection=true&authSource=admin",
        server.port()
    );
    let client = Client::with_uri_str(url).await.unwrap();
    client
        .database("selftest")
        .collection::<Document>("users")
        .insert_one(doc! { "_id": 1 })
        .await
        .unwrap();
}
