//! Decoding of the rows that lists read in bulk (a page of filings reads about 400), by position.
//!
//! sea-orm's derived decoder finds every column by name and, for each NULL in an optional column, formats an error
//! it then throws away; for the wide rows of a page (websites and materials have 20-odd columns, many of them
//! NULL) that was a quarter of the server's CPU per request. `Positional<Model>` reads the columns in the order
//! `Entity::find()` selects them (the model's field order) straight from PostgreSQL's row, NULLs included. On SQLite
//! it goes through sea-orm by position. The queries stay sea-orm's: only the decoding changes.

use sea_orm::sqlx::{self, Postgres};
use sea_orm::{DbErr, FromQueryResult, QueryResult, TryGetable};

/// A model decoded by position (see the module's documentation).
pub struct Positional<M>(pub M);

/// The models of positionally decoded rows.
pub fn models<M>(rows: Vec<Positional<M>>) -> Vec<M> {
    rows.into_iter().map(|row| row.0).collect()
}

/// The value of column `index`.
fn column<T>(res: &QueryResult, index: usize) -> Result<T, DbErr>
where
    T: TryGetable + sqlx::Type<Postgres> + for<'r> sqlx::Decode<'r, Postgres>,
{
    match res.try_as_pg_row() {
        Some(row) => sqlx::Row::try_get(row, index).map_err(|e| DbErr::Type(format!("column {index}: {e}"))),
        None => res.try_get_by_index(index),
    }
}

/// Implements positional decoding for an entity's model. The fields must be listed in the model's order, which is
/// the order of its `Column` enumeration and of the columns `Entity::find()` selects; a unit test checks it for each.
macro_rules! positional {
    ($module:ident { $($field:ident),+ $(,)? }) => {
        impl FromQueryResult for Positional<entity::$module::Model> {
            #[allow(unused_assignments)]
            fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
                if !pre.is_empty() {
                    // A prefixed select (a join) names its columns: leave it to sea-orm.
                    return entity::$module::Model::from_query_result(res, pre).map(Positional);
                }
                let mut index = 0;
                Ok(Positional(entity::$module::Model {
                    $($field: {
                        let value = column(res, index)?;
                        index += 1;
                        value
                    }),+
                }))
            }
        }

        impl Positional<entity::$module::Model> {
            /// The columns in the order this decoder reads them.
            #[cfg(test)]
            pub(crate) const COLUMNS: &'static [&'static str] = &[$(stringify!($field)),+];
        }
    };
}

positional!(filing {
    id,
    tenant_id,
    owner_account_id,
    filing_type,
    status,
    version,
    reviewer_id,
    submitted_at,
    sms_deadline_at,
    icp_number,
    base_filing_id,
    superseded_by_id,
    sms_reminded_at,
    created_at,
    updated_at,
    purged_at,
});

positional!(filing_subject {
    id,
    tenant_id,
    filing_id,
    subject_type,
    name,
    certificate_type,
    certificate_number,
    certificate_address,
    province_code,
    city_code,
    district_code,
    mailing_address,
    investor,
    remark,
    rp_name,
    rp_certificate_type,
    rp_certificate_number,
    rp_mobile,
    rp_emergency_phone,
    rp_email,
    rp_is_legal_representative,
    rp_mobile_bidx,
    certificate_number_bidx,
});

positional!(website {
    id,
    tenant_id,
    filing_id,
    name,
    domains,
    homepage_url,
    service_content,
    languages,
    pre_approvals,
    access_method,
    remark,
    icp_number,
    operation,
    base_website_id,
    rp_name,
    rp_certificate_type,
    rp_certificate_number,
    rp_mobile,
    rp_emergency_phone,
    rp_email,
    created_at,
    updated_at,
    rp_mobile_bidx,
});

positional!(attachment {
    id,
    tenant_id,
    filing_id,
    kind,
    website_id,
    pre_approval_category,
    file_name,
    content_type,
    size_bytes,
    sha256,
    object_key,
    bucket,
    status,
    upload_expires_at,
    uploaded_at,
    created_by,
    review_status,
    review_reason,
    face_challenge,
    created_at,
    updated_at,
});

#[cfg(test)]
mod tests {
    use sea_orm::{EntityTrait, IdenStatic, Iterable};

    use super::Positional;

    fn selected<E: EntityTrait>() -> Vec<&'static str> {
        E::Column::iter().map(|c| c.as_str()).collect()
    }

    #[test]
    fn each_decoder_reads_the_columns_in_the_order_find_selects_them() {
        assert_eq!(selected::<entity::filing::Entity>(), Positional::<entity::filing::Model>::COLUMNS);
        assert_eq!(selected::<entity::filing_subject::Entity>(), Positional::<entity::filing_subject::Model>::COLUMNS);
        assert_eq!(selected::<entity::website::Entity>(), Positional::<entity::website::Model>::COLUMNS);
        assert_eq!(selected::<entity::attachment::Entity>(), Positional::<entity::attachment::Model>::COLUMNS);
    }
}
