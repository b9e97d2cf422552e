//! Schemas for the `openapi` feature that a field's type alone does not give: constraints that
//! live in validation code ([`crate::SyncConfig::validate`]) or in how a `String` is filled.
//! The derives name these with `schema(schema_with = ...)`.

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::{Array, Object};

/// A collection or field name as the settings take it: never empty.
fn name() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .build()
}

/// `collectionsToSync`: names, each not empty (TempleSync's own are refused too, which a
/// schema cannot say).
pub(crate) fn collection_names() -> Array {
    ArrayBuilder::new()
        .items(name())
        .description(Some(
            "Empty: every collection except TempleSync's own (sync_*, conflict_logs), which are refused",
        ))
        .build()
}

/// `uniqueFields`: collection name -> at least one field name.
pub(crate) fn unique_fields() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "Collection name -> fields whose values must be unique across both sides",
        ))
        .additional_properties(Some(ArrayBuilder::new().items(name()).min_items(Some(1))))
        .build()
}

/// A quarantined document's `side`: the side's name as people read it (`cloud`, not the
/// `remote` of [`crate::error::Side`]'s serialization).
pub(crate) fn quarantine_side() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["local", "cloud"]))
        .description(Some("Which database refused it"))
        .build()
}
