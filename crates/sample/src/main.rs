//! `templesync-sample`: loads the demo data, or N synthetic bookings, into a database.

use anyhow::Context;
use bson::{Document, doc};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Load synthetic temple data (fixed seed) into MongoDB")]
struct Cli {
    #[arg(long, default_value_t = 42, global = true)]
    seed: u64,
    #[arg(long, default_value = "temple_db", global = true)]
    database: String,
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// The demo: a local and a cloud database with one username clash. Does nothing if the
    /// local database already has admins.
    Demo {
        #[arg(long)]
        local: String,
        #[arg(long)]
        cloud: String,
    },
    /// N bookings (and N/100 events) into one database.
    Generate {
        #[arg(long)]
        url: String,
        #[arg(long)]
        n: usize,
    },
}

async fn load(url: &str, db: &str, sets: &[(&str, Vec<Document>)]) -> anyhow::Result<()> {
    let client = mongodb::Client::with_uri_str(url)
        .await
        .context("connecting")?;
    let db = client.database(db);
    let loaded = async {
        for (coll, docs) in sets {
            for chunk in docs.chunks(1000) {
                db.collection::<Document>(coll)
                    .insert_many(chunk)
                    .await
                    .with_context(|| format!("loading {coll}"))?;
            }
        }
        anyhow::Ok(())
    }
    .await;
    // Closed before the runtime goes: a client dropped while it shuts down can panic in the
    // driver's background tasks.
    client.shutdown().await;
    loaded
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.what {
        What::Demo { local, cloud } => {
            let client = mongodb::Client::with_uri_str(&local).await?;
            let existing = client
                .database(&cli.database)
                .collection::<Document>("admins")
                .count_documents(doc! {})
                .await;
            client.shutdown().await;
            if existing? > 0 {
                println!("The demo data is already loaded.");
                return Ok(());
            }
            let d = templesync_sample::demo(cli.seed);
            load(&local, &cli.database, &d.local).await?;
            load(&cloud, &cli.database, &d.cloud).await?;
            println!(
                "Loaded the demo data: admins, bookings and events on both sides (one username is on both)."
            );
        }
        What::Generate { url, n } => {
            let mut g = templesync_sample::Generator::new(cli.seed);
            let bookings = g.bookings(n);
            let events = g.events((n / 100).max(1));
            load(
                &url,
                &cli.database,
                &[("bookings", bookings), ("events", events)],
            )
            .await?;
            println!("Loaded {n} bookings.");
        }
    }
    Ok(())
}
