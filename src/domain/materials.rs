//! Materials (备案材料): the kinds of attachment a filing carries, what each may be, and recognising a file by its
//! first bytes rather than by what the client claims.

use crate::domain::enums::*;

/// Size classes, each with its own configurable limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeClass {
    Image,
    Document,
    Video,
}

const PHOTO_TYPES: &[&str] = &["image/jpeg", "image/png"];
const DOCUMENT_TYPES: &[&str] = &["application/pdf", "image/jpeg", "image/png"];
const VIDEO_TYPES: &[&str] = &["video/mp4", "video/webm", "video/quicktime"];

impl MaterialKind {
    /// Content types a file of this kind may have.
    pub fn allowed_content_types(self) -> &'static [&'static str] {
        match self.size_class() {
            SizeClass::Image => PHOTO_TYPES,
            SizeClass::Document => DOCUMENT_TYPES,
            SizeClass::Video => VIDEO_TYPES,
        }
    }

    pub fn size_class(self) -> SizeClass {
        match self {
            Self::IdCardFront | Self::IdCardBack | Self::FacePhoto => SizeClass::Image,
            Self::FaceVideo => SizeClass::Video,
            _ => SizeClass::Document,
        }
    }

    /// Whether the material belongs to one website (the website's person, licence or domain certificate).
    pub fn needs_website(self) -> bool {
        matches!(self, Self::PreApprovalLicence | Self::DomainCertificate | Self::FaceVideo | Self::FacePhoto)
    }

    /// Whether the material belongs to one pre-approval category.
    pub fn needs_pre_approval_category(self) -> bool {
        self == Self::PreApprovalLicence
    }
}

/// The content type the first bytes of a file show, for the types materials may have.
pub fn sniff_content_type(head: &[u8]) -> Option<&'static str> {
    let kind = infer::get(head)?;
    let mime = kind.mime_type();
    [PHOTO_TYPES, DOCUMENT_TYPES, VIDEO_TYPES].iter().flat_map(|list| list.iter()).copied().find(|t| *t == mime).or(
        match mime {
            // ISO base media files with an M4V brand are MP4 video.
            "video/x-m4v" => Some("video/mp4"),
            _ => None,
        },
    )
}

/// The file extension an object of this content type is stored with.
pub fn extension(content_type: &str) -> &'static str {
    match content_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "application/pdf" => "pdf",
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        "video/quicktime" => "mov",
        _ => "bin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_recognised_by_their_first_bytes() {
        assert_eq!(sniff_content_type(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F']), Some("image/jpeg"));
        assert_eq!(sniff_content_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(sniff_content_type(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3"), Some("application/pdf"));
        assert_eq!(sniff_content_type(b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom"), Some("video/mp4"));
        // An EBML header whose DocType is "webm" (the matcher reads the first 256 bytes).
        let mut webm = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\x82\x84webm".to_vec();
        webm.resize(300, 0);
        assert_eq!(sniff_content_type(&webm), Some("video/webm"));
        assert_eq!(sniff_content_type(b"MZ\x90\0\x03\0\0\0"), None, "a Windows executable is none of these");
        assert_eq!(sniff_content_type(b"hello, plain text"), None);
    }

    #[test]
    fn kinds_have_their_types() {
        assert_eq!(MaterialKind::IdCardFront.allowed_content_types(), PHOTO_TYPES);
        assert!(MaterialKind::VerificationSheet.allowed_content_types().contains(&"application/pdf"));
        assert!(MaterialKind::FaceVideo.allowed_content_types().contains(&"video/webm"));
        assert_eq!(extension("video/quicktime"), "mov");
    }
}
