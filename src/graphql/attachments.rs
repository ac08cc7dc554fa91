//! Materials over GraphQL: presigned uploads, uploads through the server, downloads.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject, Upload};
use chrono::{DateTime, Utc};

use super::context::{actor, deps};
use super::enums;
use super::error::gql;
use super::ids::{self, Kind};
use super::objects::attachment::Attachment;
use crate::domain::FieldErrorCode;
use crate::services::ServiceError;
use crate::services::attachments::{self as svc, UploadRequest};

/// One HTTP header of a presigned request.
#[derive(SimpleObject)]
pub struct HttpHeader {
    /// Header name.
    pub name: String,
    /// Header value, to send exactly.
    pub value: String,
}

/// Where and how to upload a file straight to the object store.
#[derive(SimpleObject)]
pub struct AttachmentUpload {
    /// The attachment, PENDING until `completeAttachmentUpload`.
    pub attachment: Attachment,
    /// The HTTP method (PUT).
    pub method: String,
    /// The presigned URL.
    pub url: String,
    /// Headers to send exactly as given (they are signed: Content-Type, Content-Length and x-amz-checksum-sha256
    /// among them; a store that verifies checksums refuses any other content).
    pub headers: Vec<HttpHeader>,
    /// When the URL stops working; an upload not completed by then is removed.
    pub expires_at: DateTime<Utc>,
}

impl From<svc::UploadTicket> for AttachmentUpload {
    fn from(ticket: svc::UploadTicket) -> Self {
        Self {
            attachment: Attachment(ticket.attachment),
            method: ticket.request.method,
            url: ticket.request.url,
            headers: ticket.request.headers.into_iter().map(|(name, value)| HttpHeader { name, value }).collect(),
            expires_at: ticket.expires_at,
        }
    }
}

/// The material a file is for, and what the file is.
#[derive(InputObject)]
pub struct RequestAttachmentUploadInput {
    /// The filing.
    pub filing_id: ID,
    /// Which material.
    pub kind: enums::MaterialKind,
    /// The website, for a website's person, licence or domain certificate.
    pub website_id: Option<ID>,
    /// The pre-approval, for a licence.
    pub pre_approval_category: Option<enums::PreApprovalCategory>,
    /// The file's name.
    pub file_name: String,
    /// Its content type (image/jpeg, image/png, application/pdf, video/mp4, video/webm, video/quicktime).
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// The material a file sent with the request is for.
#[derive(InputObject)]
pub struct UploadAttachmentInput {
    /// The filing.
    pub filing_id: ID,
    /// Which material.
    pub kind: enums::MaterialKind,
    /// The website, for a website's person, licence or domain certificate.
    pub website_id: Option<ID>,
    /// The pre-approval, for a licence.
    pub pre_approval_category: Option<enums::PreApprovalCategory>,
}

fn decode_attachment(id: &ID) -> Result<uuid::Uuid> {
    ids::decode(id, Kind::Attachment, "id").map_err(gql)
}

fn website(id: Option<&ID>) -> Result<Option<uuid::Uuid>> {
    id.map(|id| ids::decode(id, Kind::Website, "websiteId")).transpose().map_err(|e| match e {
        ServiceError::NotFound => gql(ServiceError::invalid("websiteId", FieldErrorCode::InvalidId)),
        other => gql(other),
    })
}

#[derive(Default)]
pub struct AttachmentMutation;

#[Object]
impl AttachmentMutation {
    /// Starts an upload straight to the object store (the path frontends should use): PUT the file to the returned
    /// URL with the returned headers, then call `completeAttachmentUpload`.
    async fn request_attachment_upload(
        &self,
        ctx: &Context<'_>,
        input: RequestAttachmentUploadInput,
    ) -> Result<AttachmentUpload> {
        let actor = actor(ctx)?;
        let request = UploadRequest {
            filing_id: ids::decode(&input.filing_id, Kind::Filing, "filingId").map_err(gql)?,
            kind: input.kind.into(),
            website_id: website(input.website_id.as_ref())?,
            pre_approval_category: input.pre_approval_category.map(Into::into),
            file_name: input.file_name,
            content_type: input.content_type,
            size: input.size,
            sha256: input.sha256,
            face_challenge: None,
        };
        let ticket = svc::request_upload(deps(ctx), actor, request).await.map_err(gql)?;
        Ok(AttachmentUpload::from(ticket))
    }

    /// Checks an uploaded file (size, type by its first bytes, SHA-256) and makes it the material's current file,
    /// replacing the one before. A file that fails a check is deleted. The checked file is kept apart from the upload
    /// URL, so whatever is PUT to the URL afterwards never replaces it.
    async fn complete_attachment_upload(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The attachment.")] id: ID,
    ) -> Result<Attachment> {
        let actor = actor(ctx)?;
        let id = decode_attachment(&id)?;
        Ok(Attachment(svc::complete_upload(deps(ctx), actor, id).await.map_err(gql)?))
    }

    /// Uploads a file through the server (a GraphQL multipart request), for clients that cannot PUT to the object
    /// store. The file is streamed to the store; its size is limited per material.
    async fn upload_attachment(
        &self,
        ctx: &Context<'_>,
        input: UploadAttachmentInput,
        #[graphql(desc = "The file (multipart request field).")] file: Upload,
    ) -> Result<Attachment> {
        let actor = actor(ctx)?;
        // `Upload::value` indexes the request's files without a check: a marker naming no file must not reach it.
        let missing = || gql(ServiceError::invalid("file", FieldErrorCode::Required));
        if *file >= ctx.query_env.uploads.len() {
            return Err(missing());
        }
        let value = file.value(ctx).map_err(|_| missing())?;
        let request = UploadRequest {
            filing_id: ids::decode(&input.filing_id, Kind::Filing, "filingId").map_err(gql)?,
            kind: input.kind.into(),
            website_id: website(input.website_id.as_ref())?,
            pre_approval_category: input.pre_approval_category.map(Into::into),
            file_name: value.filename.clone(),
            content_type: value.content_type.clone().unwrap_or_default(),
            size: 0,
            sha256: String::new(),
            face_challenge: None,
        };
        let attachment = svc::upload_file(deps(ctx), actor, request, value.content).await.map_err(gql)?;
        Ok(Attachment(attachment))
    }

    /// Removes a material (and its file) from an editable filing.
    async fn delete_attachment(&self, ctx: &Context<'_>, #[graphql(desc = "The attachment.")] id: ID) -> Result<bool> {
        let actor = actor(ctx)?;
        let id = decode_attachment(&id)?;
        svc::delete(deps(ctx), actor, id).await.map_err(gql)?;
        Ok(true)
    }
}
