//! "About": which TempleSync this is, and where it keeps things on this computer. The same
//! answer for the desktop app's About screen, `templesync about` and the support file.

use serde::Serialize;

use crate::places::Places;
use crate::settings::{Settings, redact_url};
use crate::this_pc::FILE_NAME;

/// The engine's version (the front ends have their own).
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct About {
    /// The program asking (the desktop app, the `templesync` command).
    pub program: String,
    pub version: String,
    pub engine_version: String,
    /// The system, e.g. "linux x86_64".
    pub system: String,
    /// Where settings, data and logs are; none (null) when this computer does not say.
    pub places: Option<Places>,
    /// This computer's own settings file (its pause).
    pub this_pc_file: Option<String>,
    /// The databases, passwords hidden.
    pub local_database: String,
    pub cloud_database: Option<String>,
    pub database_name: String,
    /// The front end's own settings file, when it has one (the desktop app's).
    pub app_settings_file: Option<String>,
}

impl About {
    pub fn new(program: &str, version: &str, settings: &Settings) -> About {
        let places = Places::of_this_user().ok();
        About {
            program: program.to_string(),
            version: version.to_string(),
            engine_version: ENGINE_VERSION.to_string(),
            system: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            this_pc_file: places
                .as_ref()
                .map(|p| p.config.join(FILE_NAME).display().to_string()),
            places,
            local_database: redact_url(&settings.local_url),
            cloud_database: settings.remote_url.as_deref().map(redact_url),
            database_name: settings.database.clone(),
            app_settings_file: None,
        }
    }
}
