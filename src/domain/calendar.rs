//! Working days in China: weekends and holidays off, make-up working days (调休) on, dates in China Standard Time.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Utc, Weekday};

/// A working-day calendar.
#[derive(Clone, Debug, Default)]
pub struct WorkingCalendar {
    holidays: BTreeSet<NaiveDate>,
    extra_working_days: BTreeSet<NaiveDate>,
}

fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

impl WorkingCalendar {
    pub fn new(holidays: impl IntoIterator<Item = NaiveDate>, extra: impl IntoIterator<Item = NaiveDate>) -> Self {
        Self { holidays: holidays.into_iter().collect(), extra_working_days: extra.into_iter().collect() }
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.extra_working_days.contains(&date) {
            return true;
        }
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains(&date)
    }

    /// The end (24:00 China time) of the `n`-th working day after the day of `start`.
    pub fn deadline(&self, start: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        let mut date = start.with_timezone(&china()).date_naive();
        let mut left = n;
        while left > 0 {
            date = date.succ_opt().expect("dates do not run out");
            if self.is_working_day(date) {
                left -= 1;
            }
        }
        let end = date.succ_opt().expect("dates do not run out").and_hms_opt(0, 0, 0).expect("midnight exists");
        china().from_local_datetime(&end).single().expect("a fixed offset has no gaps").with_timezone(&Utc)
    }

    /// Working days from `start` to `now`, counting only whole working days after the day of `start`.
    pub fn working_days_between(&self, start: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
        let (from, to) = (start.with_timezone(&china()).date_naive(), now.with_timezone(&china()).date_naive());
        let mut count = 0;
        let mut date = from;
        while date < to {
            date += Duration::days(1);
            if date < to && self.is_working_day(date) {
                count += 1;
            }
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date: &str, hour: u32) -> DateTime<Utc> {
        let local = NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap().and_hms_opt(hour, 0, 0).unwrap();
        china().from_local_datetime(&local).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn weekends_and_holidays_do_not_count_make_up_days_do() {
        let calendar = WorkingCalendar::new(
            [NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 10, 2).unwrap()],
            [NaiveDate::from_ymd_opt(2026, 10, 10).unwrap()],
        );
        // Submitted on a Wednesday: one working day later is Thursday, end of day.
        assert_eq!(calendar.deadline(at("2026-11-25", 10), 1), at("2026-11-27", 0));
        // Submitted on a Friday: the next working day is Monday.
        assert_eq!(calendar.deadline(at("2026-11-27", 18), 1), at("2026-12-01", 0));
        // Submitted on Wednesday 30 September: 1 and 2 October are holidays, 3-4 a weekend; Monday 5 October.
        assert_eq!(calendar.deadline(at("2026-09-30", 9), 1), at("2026-10-06", 0));
        // Saturday 10 October is a make-up working day.
        assert!(calendar.is_working_day(NaiveDate::from_ymd_opt(2026, 10, 10).unwrap()));
        assert!(!calendar.is_working_day(NaiveDate::from_ymd_opt(2026, 10, 11).unwrap()));
        // Late evening UTC is already the next day in China.
        assert_eq!(calendar.deadline(Utc.with_ymd_and_hms(2026, 11, 24, 17, 0, 0).unwrap(), 1), at("2026-11-27", 0));
    }

    #[test]
    fn working_days_between_count_whole_days() {
        let calendar = WorkingCalendar::default();
        assert_eq!(calendar.working_days_between(at("2026-11-27", 10), at("2026-11-30", 9)), 0, "a weekend between");
        assert_eq!(calendar.working_days_between(at("2026-11-27", 10), at("2026-12-01", 9)), 1);
    }
}
