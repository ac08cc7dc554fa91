//! Provincial-level divisions (GB/T 2260) and the prefixes of the ICP numbers their bureaus issue.

/// A province-level division whose communications administration (管局) reviews filings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Province {
    /// Two-digit GB/T 2260 code, e.g. `11`.
    pub code: &'static str,
    pub name_zh: &'static str,
    pub name_en: &'static str,
    /// The prefix of the ICP numbers this province issues, e.g. `京`. Not always the usual abbreviation.
    pub icp_prefix: &'static str,
}

const fn p(code: &'static str, name_zh: &'static str, name_en: &'static str, icp_prefix: &'static str) -> Province {
    Province { code, name_zh, name_en, icp_prefix }
}

/// The 31 mainland provinces, autonomous regions and municipalities.
pub const PROVINCES: &[Province] = &[
    p("11", "北京市", "Beijing", "京"),
    p("12", "天津市", "Tianjin", "津"),
    p("13", "河北省", "Hebei", "冀"),
    p("14", "山西省", "Shanxi", "晋"),
    p("15", "内蒙古自治区", "Inner Mongolia", "蒙"),
    p("21", "辽宁省", "Liaoning", "辽"),
    p("22", "吉林省", "Jilin", "吉"),
    p("23", "黑龙江省", "Heilongjiang", "黑"),
    p("31", "上海市", "Shanghai", "沪"),
    p("32", "江苏省", "Jiangsu", "苏"),
    p("33", "浙江省", "Zhejiang", "浙"),
    p("34", "安徽省", "Anhui", "皖"),
    p("35", "福建省", "Fujian", "闽"),
    p("36", "江西省", "Jiangxi", "赣"),
    p("37", "山东省", "Shandong", "鲁"),
    p("41", "河南省", "Henan", "豫"),
    p("42", "湖北省", "Hubei", "鄂"),
    p("43", "湖南省", "Hunan", "湘"),
    p("44", "广东省", "Guangdong", "粤"),
    p("45", "广西壮族自治区", "Guangxi", "桂"),
    p("46", "海南省", "Hainan", "琼"),
    p("50", "重庆市", "Chongqing", "渝"),
    p("51", "四川省", "Sichuan", "蜀"),
    p("52", "贵州省", "Guizhou", "黔"),
    p("53", "云南省", "Yunnan", "滇"),
    p("54", "西藏自治区", "Tibet", "藏"),
    p("61", "陕西省", "Shaanxi", "陕"),
    p("62", "甘肃省", "Gansu", "陇"),
    p("63", "青海省", "Qinghai", "青"),
    p("64", "宁夏回族自治区", "Ningxia", "宁"),
    p("65", "新疆维吾尔自治区", "Xinjiang", "新"),
];

impl Province {
    /// The province of a six-digit division code (`110000`, `110105`) or its two-digit prefix.
    pub fn of_division_code(code: &str) -> Option<Province> {
        let prefix = code.get(..2)?;
        PROVINCES.iter().copied().find(|province| province.code == prefix)
    }

    /// The six-digit division code of the province itself (`110000`).
    pub fn division_code(&self) -> String {
        format!("{}0000", self.code)
    }
}

/// Whether `code` is a six-digit GB/T 2260 division code.
pub fn is_division_code(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_that_differ_from_the_usual_abbreviation() {
        let prefix = |code| Province::of_division_code(code).unwrap().icp_prefix;
        assert_eq!(prefix("510000"), "蜀");
        assert_eq!(prefix("520102"), "黔");
        assert_eq!(prefix("530000"), "滇");
        assert_eq!(prefix("620000"), "陇");
        assert_eq!(prefix("110105"), "京");
    }

    #[test]
    fn unknown_codes_have_no_province() {
        assert!(Province::of_division_code("710000").is_none(), "Taiwan has no bureau");
        assert!(Province::of_division_code("99").is_none());
        assert!(Province::of_division_code("1").is_none());
        assert_eq!(PROVINCES.len(), 31);
    }

    #[test]
    fn division_codes_are_six_digits() {
        assert!(is_division_code("310115"));
        assert!(!is_division_code("31011"));
        assert!(!is_division_code("31011a"));
        assert_eq!(Province::of_division_code("31").unwrap().division_code(), "310000");
    }
}
