//! The filing workflow as a state machine: which actor may take which action from which state, and where it leads.
//! Anything not in the table is refused (INVALID_TRANSITION) and changes nothing.

use super::FilingStatus::{self, *};

/// Who acts, as the workflow sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WorkflowRole {
    /// The applicant who owns the filing, or the registrar's backend acting for applicants.
    Applicant,
    /// Registrar staff doing the preliminary review (初审).
    Reviewer,
    /// The registrar as an organisation: its administrators and backend, recording what MIIT and the bureau did.
    Registrar,
    /// The server itself (deadlines).
    System,
}

/// What can happen to a filing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkflowAction {
    Submit,
    /// Submitting a cancellation order (注销, 取消接入): it skips the preliminary review.
    SubmitCancellation,
    Withdraw,
    Abandon,
    ClaimReview,
    ReleaseReview,
    ApprovePreliminary,
    RejectPreliminary,
    SmsAllConfirmed,
    SmsFailed,
    ResubmitToMiit,
    ReturnToApplicant,
    BureauApprove,
    BureauReject,
}

use WorkflowAction as A;
use WorkflowRole as R;

/// The table: (action, from, who may, to).
const TRANSITIONS: &[(WorkflowAction, FilingStatus, &[WorkflowRole], FilingStatus)] = &[
    (A::Submit, Draft, &[R::Applicant], PendingReview),
    (A::Submit, Returned, &[R::Applicant], PendingReview),
    // Cancellation orders go straight to the MIIT SMS check.
    (A::SubmitCancellation, Draft, &[R::Applicant], SmsVerification),
    (A::SubmitCancellation, Returned, &[R::Applicant], SmsVerification),
    // Before the 初审 decision the applicant may take the filing back and edit it.
    (A::Withdraw, PendingReview, &[R::Applicant], Draft),
    (A::Withdraw, InReview, &[R::Applicant], Draft),
    // Abandoning is possible until the filing reaches the bureau.
    (A::Abandon, Draft, &[R::Applicant], Abandoned),
    (A::Abandon, Returned, &[R::Applicant], Abandoned),
    (A::Abandon, PendingReview, &[R::Applicant], Abandoned),
    (A::Abandon, InReview, &[R::Applicant], Abandoned),
    (A::Abandon, SmsVerification, &[R::Applicant], Abandoned),
    (A::Abandon, SmsFailed, &[R::Applicant], Abandoned),
    (A::ClaimReview, PendingReview, &[R::Reviewer], InReview),
    (A::ReleaseReview, InReview, &[R::Reviewer], PendingReview),
    (A::ApprovePreliminary, InReview, &[R::Reviewer], SmsVerification),
    (A::RejectPreliminary, InReview, &[R::Reviewer], Returned),
    // The MIIT SMS check: every person confirmed, or the deadline passed / too many failures.
    (A::SmsAllConfirmed, SmsVerification, &[R::Registrar, R::System], BureauReview),
    (A::SmsFailed, SmsVerification, &[R::Registrar, R::System], SmsFailed),
    (A::ResubmitToMiit, SmsFailed, &[R::Registrar, R::Reviewer], SmsVerification),
    (A::ReturnToApplicant, SmsFailed, &[R::Registrar, R::Reviewer], Returned),
    (A::BureauApprove, BureauReview, &[R::Registrar], Approved),
    (A::BureauReject, BureauReview, &[R::Registrar], Returned),
];

/// Where `action` by `role` from `from` leads, if the table allows it.
pub fn next(from: FilingStatus, action: WorkflowAction, role: WorkflowRole) -> Option<FilingStatus> {
    TRANSITIONS
        .iter()
        .find(|(a, f, roles, _)| *a == action && *f == from && roles.contains(&role))
        .map(|(_, _, _, to)| *to)
}

/// The actions `role` may take from `from`.
pub fn available(from: FilingStatus, role: WorkflowRole) -> Vec<WorkflowAction> {
    TRANSITIONS.iter().filter(|(_, f, roles, _)| *f == from && roles.contains(&role)).map(|(a, _, _, _)| *a).collect()
}

/// Every transition of the table: (action, from, who may, to).
pub fn transitions() -> impl Iterator<Item = (WorkflowAction, FilingStatus, &'static [WorkflowRole], FilingStatus)> {
    TRANSITIONS.iter().copied()
}

/// How many failed SMS confirmations of one person send the filing back to the registrar.
pub const MAX_SMS_FAILURES: i32 = 5;

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    const ROLES: [WorkflowRole; 4] = [R::Applicant, R::Reviewer, R::Registrar, R::System];

    #[test]
    fn every_state_action_and_role_is_decided_by_the_table() {
        // Exhaustive: for every combination, `next` answers exactly what the table says, and nothing else.
        let mut allowed = 0;
        for from in FilingStatus::iter() {
            for action in WorkflowAction::iter() {
                for role in ROLES {
                    let expected = TRANSITIONS
                        .iter()
                        .find(|(a, f, roles, _)| *a == action && *f == from && roles.contains(&role))
                        .map(|t| t.3);
                    assert_eq!(next(from, action, role), expected, "{from:?} {action:?} {role:?}");
                    allowed += usize::from(expected.is_some());
                }
            }
        }
        // 26 allowed (state, action, role) combinations of the 9 x 14 x 4 possible.
        assert_eq!(allowed, 26);
    }

    #[test]
    fn the_table_is_consistent() {
        for (i, (a, f, roles, to)) in TRANSITIONS.iter().enumerate() {
            assert_ne!(f, to, "{a:?} from {f:?} changes the state");
            for (b, g, others, _) in &TRANSITIONS[i + 1..] {
                let overlap = roles.iter().any(|r| others.contains(r));
                assert!(!(a == b && f == g && overlap), "{a:?} from {f:?} is listed twice");
            }
        }
        // Every state but the final ones has a way out, and every state is reachable.
        for state in FilingStatus::iter() {
            let out = ROLES.iter().any(|&r| !available(state, r).is_empty());
            assert_eq!(out, !matches!(state, Approved | Abandoned), "{state:?}");
            let reachable = state == Draft || TRANSITIONS.iter().any(|t| t.3 == state);
            assert!(reachable, "{state:?} cannot be reached");
        }
    }

    #[test]
    fn the_happy_path_and_the_returns() {
        let mut state = Draft;
        for (action, role) in [
            (A::Submit, R::Applicant),
            (A::ClaimReview, R::Reviewer),
            (A::ApprovePreliminary, R::Reviewer),
            (A::SmsAllConfirmed, R::System),
            (A::BureauApprove, R::Registrar),
        ] {
            state = next(state, action, role).unwrap_or_else(|| panic!("{action:?} from {state:?}"));
        }
        assert_eq!(state, Approved);
        assert_eq!(next(InReview, A::RejectPreliminary, R::Reviewer), Some(Returned));
        assert_eq!(next(Returned, A::Submit, R::Applicant), Some(PendingReview));
        assert_eq!(next(SmsVerification, A::SmsFailed, R::System), Some(SmsFailed));
        assert_eq!(next(SmsFailed, A::ResubmitToMiit, R::Registrar), Some(SmsVerification));
        assert_eq!(next(BureauReview, A::BureauReject, R::Registrar), Some(Returned));
        // A cancellation skips the preliminary review, there and after a return.
        assert_eq!(next(Draft, A::SubmitCancellation, R::Applicant), Some(SmsVerification));
        assert_eq!(next(Returned, A::SubmitCancellation, R::Applicant), Some(SmsVerification));
    }

    #[test]
    fn what_is_refused() {
        assert_eq!(next(Draft, A::ApprovePreliminary, R::Reviewer), None, "nothing to review yet");
        assert_eq!(next(InReview, A::ApprovePreliminary, R::Applicant), None, "applicants do not approve");
        assert_eq!(next(SmsVerification, A::Withdraw, R::Applicant), None, "after the 初审 decision only abandon");
        assert_eq!(next(BureauReview, A::Abandon, R::Applicant), None, "at the bureau nothing changes");
        assert_eq!(next(Approved, A::Submit, R::Applicant), None);
        assert_eq!(next(Abandoned, A::Submit, R::Applicant), None, "abandoning is final");
        assert_eq!(next(BureauReview, A::BureauApprove, R::Reviewer), None, "the registrar records the bureau");
        for action in WorkflowAction::iter() {
            for role in ROLES {
                assert_eq!(next(Approved, action, role), None, "approved is final for the workflow");
                assert_eq!(next(Abandoned, action, role), None);
            }
        }
        assert_eq!(available(Draft, R::Applicant), vec![A::Submit, A::SubmitCancellation, A::Abandon]);
        assert_eq!(next(Draft, A::SubmitCancellation, R::Reviewer), None);
        assert_eq!(next(PendingReview, A::SubmitCancellation, R::Applicant), None);
        assert!(available(PendingReview, R::Reviewer).contains(&A::ClaimReview));
    }
}
