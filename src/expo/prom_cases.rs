// Test data from Prometheus (Apache-2.0, The Prometheus Authors).
// Inputs and outcomes of Prometheus's published parser tests (model/textparse/*_test.go of
// v3 at main and of v2.42.0), transcribed as data: "" = parses, "EOF" = parses to # EOF.
pub(super) const PROM_V3: &[(&[u8], &str)] = &[
    (
        b"a",
        "expected value after metric, got \"\\n\" (\"INVALID\") while parsing: \"a\\n\"",
    ),
    (
        b"a{b='c'} 1\n",
        "expected label value, got \"'\" (\"INVALID\") while parsing: \"a{b='\"",
    ),
    (
        b"a{b=\n",
        "expected label value, got \"\\n\" (\"INVALID\") while parsing: \"a{b=\\n\"",
    ),
    (
        b"a{\xff=\"foo\"} 1\n",
        "expected label name, got \"\\xff\" (\"INVALID\") while parsing: \"a{\\xff\"",
    ),
    (
        b"a{b=\"\xff\"} 1\n",
        "invalid UTF-8 label value: \"\\\"\\xff\\\"\"",
    ),
    (
        br#"{"a", "b = "c"}"#,
        "expected equal, got \"c\\\"\" (\"LNAME\") while parsing: \"{\\\"a\\\", \\\"b = \\\"c\\\"\"",
    ),
    (
        br#"{"a",b\nc="d"} 1"#,
        "expected equal, got \"\\\\\" (\"INVALID\") while parsing: \"{\\\"a\\\",b\\\\\"",
    ),
    (
        b"a true\n",
        "strconv.ParseFloat: parsing \"true\": invalid syntax while parsing: \"a true\"",
    ),
    (
        b"something_weird{problem=\"",
        "expected label value, got \"\\\"\\n\" (\"INVALID\") while parsing: \"something_weird{problem=\\\"\\n\"",
    ),
    (
        b"empty_label_name{=\"\"} 0",
        "expected label name, got \"=\\\"\" (\"EQUAL\") while parsing: \"empty_label_name{=\\\"\"",
    ),
    (
        b"{A}0",
        "expected equal, got \"}0\" (\"BCLOSE\") while parsing: \"{A}0\"",
    ),
    (
        b"foo 1_2\n",
        "unsupported character in float while parsing: \"foo 1_2\"",
    ),
    (
        b"foo 0x1p-3\n",
        "unsupported character in float while parsing: \"foo 0x1p-3\"",
    ),
    (
        b"foo 0x1P-3\n",
        "unsupported character in float while parsing: \"foo 0x1P-3\"",
    ),
    (
        b"foo 0 1_2\n",
        "expected next entry after timestamp, got \"_\" (\"INVALID\") while parsing: \"foo 0 1_\"",
    ),
    (
        br#"{a="ok"} 1"#,
        "metric name not set while parsing: \"{a=\\\"ok\\\"} 1\"",
    ),
    (
        b"# TYPE #\n#EOF\n",
        "expected metric name after TYPE, got \"#\" (\"INVALID\") while parsing: \"# TYPE #\"",
    ),
    (
        b"# HELP #\n#EOF\n",
        "expected metric name after HELP, got \"#\" (\"INVALID\") while parsing: \"# HELP #\"",
    ),
    (b"null_byte_metric{a=\"abc\x00\"} 1", ""),
    (b"a{b=\"\x00ss\"} 1\n", ""),
    (b"a{b=\"\x00\"} 1\n", ""),
    (b"a{b=\"\x00\"} 1\n", ""),
    (
        b"a{b=\x00\"ssss\"} 1\n",
        "expected label value, got \"\\x00\" (\"INVALID\") while parsing: \"a{b=\\x00\"",
    ),
    (
        b"a{b=\"\x00",
        "expected label value, got \"\\\"\\x00\\n\" (\"INVALID\") while parsing: \"a{b=\\\"\\x00\\n\"",
    ),
    (
        b"a{b\x00=\"hiih\"}	1",
        "expected equal, got \"\\x00\" (\"INVALID\") while parsing: \"a{b\\x00\"",
    ),
    (
        b"a\x00{b=\"ddd\"} 1",
        "expected value after metric, got \"\\x00\" (\"INVALID\") while parsing: \"a\\x00\"",
    ),
    (
        b"a 0 1\x00",
        "expected next entry after timestamp, got \"\\x00\" (\"INVALID\") while parsing: \"a 0 1\\x00\"",
    ),
];
pub(super) const OM_V3: &[(&[u8], &str)] = &[
    (b"# EOF", "EOF"),
    (b"# EOF\n", "EOF"),
    (b"", "data does not end with # EOF"),
    (
        b"\n",
        "expected a valid start token, got \"\\n\" (\"INVALID\") while parsing: \"\\n\"",
    ),
    (
        b"metric",
        "expected value after metric, got \"metric\" (\"EOF\") while parsing: \"metric\"",
    ),
    (b"metric 1", "data does not end with # EOF"),
    (b"metric 1\n", "data does not end with # EOF"),
    (
        b"metric_total 1 # {aa=\"bb\"} 4",
        "data does not end with # EOF",
    ),
    (
        b"a\n#EOF\n",
        "expected value after metric, got \"\\n\" (\"INVALID\") while parsing: \"a\\n\"",
    ),
    (
        b"\n\n#EOF\n",
        "expected a valid start token, got \"\\n\" (\"INVALID\") while parsing: \"\\n\"",
    ),
    (
        b" a 1\n#EOF\n",
        "expected a valid start token, got \" \" (\"INVALID\") while parsing: \" \"",
    ),
    (
        b"9\n#EOF\n",
        "expected a valid start token, got \"9\" (\"INVALID\") while parsing: \"9\"",
    ),
    (
        b"# TYPE u untyped\n#EOF\n",
        "invalid metric type \"untyped\"",
    ),
    (
        b"# TYPE c counter \n#EOF\n",
        "invalid metric type \"counter \"",
    ),
    (
        b"#  TYPE c counter\n#EOF\n",
        "expected a valid start token, got \"#  \" (\"INVALID\") while parsing: \"#  \"",
    ),
    (
        b"# TYPE \n#EOF\n",
        "expected metric name after TYPE, got \"\\n\" (\"INVALID\") while parsing: \"# TYPE \\n\"",
    ),
    (b"# TYPE m\n#EOF\n", "expected text in TYPE"),
    (
        b"# UNIT metric suffix\n#EOF\n",
        "unit \"suffix\" not a suffix of metric \"metric\"",
    ),
    (
        b"# UNIT metricsuffix suffix\n#EOF\n",
        "unit \"suffix\" not a suffix of metric \"metricsuffix\"",
    ),
    (
        b"# UNIT m suffix\n#EOF\n",
        "unit \"suffix\" not a suffix of metric \"m\"",
    ),
    (
        b"# UNIT \n#EOF\n",
        "expected metric name after UNIT, got \"\\n\" (\"INVALID\") while parsing: \"# UNIT \\n\"",
    ),
    (b"# UNIT m\n#EOF\n", "expected text in UNIT"),
    (
        b"# HELP \n#EOF\n",
        "expected metric name after HELP, got \"\\n\" (\"INVALID\") while parsing: \"# HELP \\n\"",
    ),
    (b"# HELP m\n#EOF\n", "expected text in HELP"),
    (
        b"a\t1\n#EOF\n",
        "expected value after metric, got \"\\t\" (\"INVALID\") while parsing: \"a\\t\"",
    ),
    (
        b"a 1\t2\n#EOF\n",
        "strconv.ParseFloat: parsing \"1\\t2\": invalid syntax while parsing: \"a 1\\t2\"",
    ),
    (
        b"a 1 2 \n#EOF\n",
        "expected next entry after timestamp, got \" \\n\" (\"INVALID\") while parsing: \"a 1 2 \\n\"",
    ),
    (
        b"a 1 2 #\n#EOF\n",
        "expected next entry after timestamp, got \" #\\n\" (\"TIMESTAMP\") while parsing: \"a 1 2 #\\n\"",
    ),
    (
        b"a 1 1z\n#EOF\n",
        "strconv.ParseFloat: parsing \"1z\": invalid syntax while parsing: \"a 1 1z\"",
    ),
    (
        b" # EOF\n",
        "expected a valid start token, got \" \" (\"INVALID\") while parsing: \" \"",
    ),
    (b"# EOF\na 1", "unexpected data after # EOF"),
    (b"# EOF\n\n", "unexpected data after # EOF"),
    (b"# EOFa 1", "unexpected data after # EOF"),
    (
        b"#\tTYPE c counter\n",
        "expected a valid start token, got \"#\\t\" (\"INVALID\") while parsing: \"#\\t\"",
    ),
    (b"# TYPE c  counter\n", "invalid metric type \" counter\""),
    (
        b"a 1 1 1\n# EOF\n",
        "expected next entry after timestamp, got \" 1\\n\" (\"TIMESTAMP\") while parsing: \"a 1 1 1\\n\"",
    ),
    (
        b"a{b='c'} 1\n# EOF\n",
        "expected label value, got \"'\" (\"INVALID\") while parsing: \"a{b='\"",
    ),
    (
        b"a{,b=\"c\"} 1\n# EOF\n",
        "expected label name, got \",b\" (\"COMMA\") while parsing: \"a{,b\"",
    ),
    (
        b"a{b=\"c\"d=\"e\"} 1\n# EOF\n",
        "expected comma or brace close, got \"d=\" (\"LNAME\") while parsing: \"a{b=\\\"c\\\"d=\"",
    ),
    (
        b"a{b=\"c\",,d=\"e\"} 1\n# EOF\n",
        "expected label name, got \",d\" (\"COMMA\") while parsing: \"a{b=\\\"c\\\",,d\"",
    ),
    (
        b"a{b=\n# EOF\n",
        "expected label value, got \"\\n\" (\"INVALID\") while parsing: \"a{b=\\n\"",
    ),
    (
        b"a{\xff=\"foo\"} 1\n# EOF\n",
        "expected label name, got \"\\xff\" (\"INVALID\") while parsing: \"a{\\xff\"",
    ),
    (
        b"a{b=\"\xff\"} 1\n# EOF\n",
        "invalid UTF-8 label value: \"\\\"\\xff\\\"\"",
    ),
    (
        br#"{"a","b = "c"}
# EOF
"#,
        "expected equal, got \"c\\\"\" (\"LNAME\") while parsing: \"{\\\"a\\\",\\\"b = \\\"c\\\"\"",
    ),
    (
        br#"{"a",b\nc="d"} 1
# EOF
"#,
        "expected equal, got \"\\\\\" (\"INVALID\") while parsing: \"{\\\"a\\\",b\\\\\"",
    ),
    (
        b"a true\n",
        "strconv.ParseFloat: parsing \"true\": invalid syntax while parsing: \"a true\"",
    ),
    (
        b"something_weird{problem=\"\n# EOF\n",
        "expected label value, got \"\\\"\\n\" (\"INVALID\") while parsing: \"something_weird{problem=\\\"\\n\"",
    ),
    (
        b"empty_label_name{=\"\"} 0\n# EOF\n",
        "expected label name, got \"=\\\"\" (\"EQUAL\") while parsing: \"empty_label_name{=\\\"\"",
    ),
    (
        b"{A}0\n# EOF\n",
        "expected equal, got \"}0\" (\"BCLOSE\") while parsing: \"{A}0\"",
    ),
    (
        b"foo 1_2\n\n# EOF\n",
        "unsupported character in float while parsing: \"foo 1_2\"",
    ),
    (
        b"foo 0x1p-3\n\n# EOF\n",
        "unsupported character in float while parsing: \"foo 0x1p-3\"",
    ),
    (
        b"foo 0x1P-3\n\n# EOF\n",
        "unsupported character in float while parsing: \"foo 0x1P-3\"",
    ),
    (
        b"foo 0 1_2\n\n# EOF\n",
        "unsupported character in float while parsing: \"foo 0 1_2\"",
    ),
    (
        b"custom_metric_total 1 # {aa=bb}\n# EOF\n",
        "expected label value, got \"b\" (\"INVALID\") while parsing: \"custom_metric_total 1 # {aa=b\"",
    ),
    (
        b"custom_metric_total 1 # {aa=\"bb\"}\n# EOF\n",
        "expected value after exemplar labels, got \"\\n\" (\"INVALID\") while parsing: \"custom_metric_total 1 # {aa=\\\"bb\\\"}\\n\"",
    ),
    (
        br#"custom_metric_total 1 # {aa="bb"}"#,
        "expected value after exemplar labels, got \"}\" (\"EOF\") while parsing: \"custom_metric_total 1 # {aa=\\\"bb\\\"}\"",
    ),
    (
        br#"custom_metric_total 1 # {bb}"#,
        "expected equal, got \"}\" (\"BCLOSE\") while parsing: \"custom_metric_total 1 # {bb}\"",
    ),
    (
        br#"custom_metric_total 1 # {bb, a="dd"}"#,
        "expected equal, got \", \" (\"COMMA\") while parsing: \"custom_metric_total 1 # {bb, \"",
    ),
    (
        br#"custom_metric_total 1 # {aa="bb",,cc="dd"} 1"#,
        "expected label name, got \",c\" (\"COMMA\") while parsing: \"custom_metric_total 1 # {aa=\\\"bb\\\",,c\"",
    ),
    (
        br#"custom_metric_total 1 # {aa="bb"} 1_2"#,
        "unsupported character in float while parsing: \"custom_metric_total 1 # {aa=\\\"bb\\\"} 1_2\"",
    ),
    (
        br#"custom_metric_total 1 # {aa="bb"} 0x1p-3"#,
        "unsupported character in float while parsing: \"custom_metric_total 1 # {aa=\\\"bb\\\"} 0x1p-3\"",
    ),
    (
        br#"custom_metric_total 1 # {aa="bb"} true"#,
        "strconv.ParseFloat: parsing \"true\": invalid syntax while parsing: \"custom_metric_total 1 # {aa=\\\"bb\\\"} true\"",
    ),
    (
        br#"custom_metric_total 1 # {aa="bb",cc=}"#,
        "expected label value, got \"}\" (\"INVALID\") while parsing: \"custom_metric_total 1 # {aa=\\\"bb\\\",cc=}\"",
    ),
    (
        br#"custom_metric_total 1 # {aa=\"\xff\"} 9.0"#,
        "expected label value, got \"\\\\\" (\"INVALID\") while parsing: \"custom_metric_total 1 # {aa=\\\\\"",
    ),
    (
        br#"{b="c",} 1"#,
        "metric name not set while parsing: \"{b=\\\"c\\\",} 1\"",
    ),
    (br#"a 1 NaN"#, r#"invalid timestamp NaN"#),
    (br#"a 1 -Inf"#, r#"invalid timestamp -Inf"#),
    (br#"a 1 Inf"#, r#"invalid timestamp +Inf"#),
    (
        b"# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 NaN",
        r#"invalid exemplar timestamp NaN"#,
    ),
    (
        b"# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 -Inf",
        r#"invalid exemplar timestamp -Inf"#,
    ),
    (b"null_byte_metric{a=\"abc\x00\"} 1\n# EOF\n", ""),
    (b"a{b=\"\x00ss\"} 1\n# EOF\n", ""),
    (b"a{b=\"\x00\"} 1\n# EOF\n", ""),
    (b"a{b=\"\x00\"} 1\n# EOF", ""),
    (
        b"a{b=\x00\"ssss\"} 1\n# EOF\n",
        "expected label value, got \"\\x00\" (\"INVALID\") while parsing: \"a{b=\\x00\"",
    ),
    (
        b"a{b=\"\x00",
        "expected label value, got \"\\\"\\x00\" (\"INVALID\") while parsing: \"a{b=\\\"\\x00\"",
    ),
    (
        b"a{b\x00=\"hiih\"}	1",
        "expected equal, got \"\\x00\" (\"INVALID\") while parsing: \"a{b\\x00\"",
    ),
    (
        b"a\x00{b=\"ddd\"} 1",
        "expected value after metric, got \"\\x00\" (\"INVALID\") while parsing: \"a\\x00\"",
    ),
    (
        b"#",
        "expected a valid start token, got \"#\" (\"INVALID\") while parsing: \"#\"",
    ),
    (
        b"# H",
        "expected a valid start token, got \"# H\" (\"INVALID\") while parsing: \"# H\"",
    ),
    (
        b"custom_metric_total 1 # {b=\x00\"ssss\"} 1\n",
        "expected label value, got \"\\x00\" (\"INVALID\") while parsing: \"custom_metric_total 1 # {b=\\x00\"",
    ),
    (
        b"custom_metric_total 1 # {b=\"\x00ss\"} 1\n",
        "expected label value, got \"\\\"\\x00\" (\"INVALID\") while parsing: \"custom_metric_total 1 # {b=\\\"\\x00\"",
    ),
];
pub(super) const PROM_V2: &[(&[u8], &str)] = &[
    (b"a", "expected value after metric, got \"INVALID\""),
    (b"a{b='c'} 1\n", "expected label value, got \"INVALID\""),
    (b"a{b=\n", "expected label value, got \"INVALID\""),
    (
        b"a{\xff=\"foo\"} 1\n",
        "expected label name, got \"INVALID\"",
    ),
    (b"a{b=\"\xff\"} 1\n", "invalid UTF-8 label value"),
    (
        b"a true\n",
        "strconv.ParseFloat: parsing \"true\": invalid syntax",
    ),
    (
        b"something_weird{problem=\"",
        "expected label value, got \"INVALID\"",
    ),
    (
        b"empty_label_name{=\"\"} 0",
        "expected label name, got \"EQUAL\"",
    ),
    (b"foo 1_2\n", "unsupported character in float"),
    (b"foo 0x1p-3\n", "unsupported character in float"),
    (b"foo 0x1P-3\n", "unsupported character in float"),
    (
        b"foo 0 1_2\n",
        "expected next entry after timestamp, got \"INVALID\"",
    ),
    (br#"{a="ok"} 1"#, r#""INVALID" is not a valid start token"#),
    (
        b"# TYPE #\n#EOF\n",
        "expected metric name after TYPE, got \"INVALID\"",
    ),
    (
        b"# HELP #\n#EOF\n",
        "expected metric name after HELP, got \"INVALID\"",
    ),
    (b"null_byte_metric{a=\"abc\x00\"} 1", ""),
    (b"a{b=\"\x00ss\"} 1\n", ""),
    (b"a{b=\"\x00\"} 1\n", ""),
    (b"a{b=\"\x00\"} 1\n", ""),
    (
        b"a{b=\x00\"ssss\"} 1\n",
        "expected label value, got \"INVALID\"",
    ),
    (b"a{b=\"\x00", "expected label value, got \"INVALID\""),
    (b"a{b\x00=\"hiih\"}	1", "expected equal, got \"INVALID\""),
    (
        b"a\x00{b=\"ddd\"} 1",
        "expected value after metric, got \"INVALID\"",
    ),
    (
        b"a 0 1\x00",
        "expected next entry after timestamp, got \"INVALID\"",
    ),
];
pub(super) const OM_V2: &[(&[u8], &str)] = &[
    (b"# EOF", "EOF"),
    (b"# EOF\n", "EOF"),
    (b"", "data does not end with # EOF"),
    (b"\n", "\"INVALID\" \"\\n\" is not a valid start token"),
    (b"metric", "expected value after metric, got \"EOF\""),
    (b"metric 1", "data does not end with # EOF"),
    (b"metric 1\n", "data does not end with # EOF"),
    (
        b"metric_total 1 # {aa=\"bb\"} 4",
        "data does not end with # EOF",
    ),
    (b"a\n#EOF\n", "expected value after metric, got \"INVALID\""),
    (
        b"\n\n#EOF\n",
        "\"INVALID\" \"\\n\" is not a valid start token",
    ),
    (
        b" a 1\n#EOF\n",
        "\"INVALID\" \" \" is not a valid start token",
    ),
    (b"9\n#EOF\n", "\"INVALID\" \"9\" is not a valid start token"),
    (
        b"# TYPE u untyped\n#EOF\n",
        "invalid metric type \"untyped\"",
    ),
    (
        b"# TYPE c counter \n#EOF\n",
        "invalid metric type \"counter \"",
    ),
    (
        b"#  TYPE c counter\n#EOF\n",
        "\"INVALID\" \" \" is not a valid start token",
    ),
    (
        b"# TYPE \n#EOF\n",
        "expected metric name after TYPE, got \"INVALID\"",
    ),
    (b"# TYPE m\n#EOF\n", "expected text in TYPE"),
    (
        b"# UNIT metric suffix\n#EOF\n",
        "unit not a suffix of metric \"metric\"",
    ),
    (
        b"# UNIT metricsuffix suffix\n#EOF\n",
        "unit not a suffix of metric \"metricsuffix\"",
    ),
    (
        b"# UNIT m suffix\n#EOF\n",
        "unit not a suffix of metric \"m\"",
    ),
    (
        b"# UNIT \n#EOF\n",
        "expected metric name after UNIT, got \"INVALID\"",
    ),
    (b"# UNIT m\n#EOF\n", "expected text in UNIT"),
    (
        b"# HELP \n#EOF\n",
        "expected metric name after HELP, got \"INVALID\"",
    ),
    (b"# HELP m\n#EOF\n", "expected text in HELP"),
    (
        b"a\t1\n#EOF\n",
        "expected value after metric, got \"INVALID\"",
    ),
    (
        b"a 1\t2\n#EOF\n",
        "strconv.ParseFloat: parsing \"1\\t2\": invalid syntax",
    ),
    (
        b"a 1 2 \n#EOF\n",
        "expected next entry after timestamp, got \"INVALID\"",
    ),
    (
        b"a 1 2 #\n#EOF\n",
        "expected next entry after timestamp, got \"TIMESTAMP\"",
    ),
    (
        b"a 1 1z\n#EOF\n",
        "strconv.ParseFloat: parsing \"1z\": invalid syntax",
    ),
    (b" # EOF\n", "\"INVALID\" \" \" is not a valid start token"),
    (b"# EOF\na 1", "unexpected data after # EOF"),
    (b"# EOF\n\n", "unexpected data after # EOF"),
    (b"# EOFa 1", "unexpected data after # EOF"),
    (
        b"#\tTYPE c counter\n",
        "\"INVALID\" \"\\t\" is not a valid start token",
    ),
    (b"# TYPE c  counter\n", "invalid metric type \" counter\""),
    (
        b"a 1 1 1\n# EOF\n",
        "expected next entry after timestamp, got \"TIMESTAMP\"",
    ),
    (
        b"a{b='c'} 1\n# EOF\n",
        "expected label value, got \"INVALID\"",
    ),
    (
        b"a{b=\"c\",} 1\n# EOF\n",
        "expected label name, got \"BCLOSE\"",
    ),
    (
        b"a{,b=\"c\"} 1\n# EOF\n",
        "expected label name or left brace, got \"COMMA\"",
    ),
    (
        b"a{b=\"c\"d=\"e\"} 1\n# EOF\n",
        "expected comma, got \"LNAME\"",
    ),
    (
        b"a{b=\"c\",,d=\"e\"} 1\n# EOF\n",
        "expected label name, got \"COMMA\"",
    ),
    (b"a{b=\n# EOF\n", "expected label value, got \"INVALID\""),
    (
        b"a{\xff=\"foo\"} 1\n# EOF\n",
        "expected label name or left brace, got \"INVALID\"",
    ),
    (b"a{b=\"\xff\"} 1\n# EOF\n", "invalid UTF-8 label value"),
    (
        b"a true\n",
        "strconv.ParseFloat: parsing \"true\": invalid syntax",
    ),
    (
        b"something_weird{problem=\"\n# EOF\n",
        "expected label value, got \"INVALID\"",
    ),
    (
        b"empty_label_name{=\"\"} 0\n# EOF\n",
        "expected label name or left brace, got \"EQUAL\"",
    ),
    (b"foo 1_2\n\n# EOF\n", "unsupported character in float"),
    (b"foo 0x1p-3\n\n# EOF\n", "unsupported character in float"),
    (b"foo 0x1P-3\n\n# EOF\n", "unsupported character in float"),
    (b"foo 0 1_2\n\n# EOF\n", "unsupported character in float"),
    (
        b"custom_metric_total 1 # {aa=bb}\n# EOF\n",
        "expected label value, got \"INVALID\"",
    ),
    (
        b"custom_metric_total 1 # {aa=\"bb\"}\n# EOF\n",
        "expected value after exemplar labels, got \"INVALID\"",
    ),
    (
        br#"custom_metric_total 1 # {aa="bb"}"#,
        "expected value after exemplar labels, got \"EOF\"",
    ),
    (
        br#"custom_metric 1 # {aa="bb"}"#,
        "metric name custom_metric does not support exemplars",
    ),
    (
        br#"custom_metric_total 1 # {aa="bb",,cc="dd"} 1"#,
        "expected label name, got \"COMMA\"",
    ),
    (
        br#"custom_metric_total 1 # {aa="bb"} 1_2"#,
        "unsupported character in float",
    ),
    (
        br#"custom_metric_total 1 # {aa="bb"} 0x1p-3"#,
        "unsupported character in float",
    ),
    (
        br#"custom_metric_total 1 # {aa="bb"} true"#,
        "strconv.ParseFloat: parsing \"true\": invalid syntax",
    ),
    (
        br#"custom_metric_total 1 # {aa="bb",cc=}"#,
        "expected label value, got \"INVALID\"",
    ),
    (
        br#"custom_metric_total 1 # {aa=\"\xff\"} 9.0"#,
        "expected label value, got \"INVALID\"",
    ),
    (
        br#"{b="c",} 1"#,
        r#""INVALID" "{" is not a valid start token"#,
    ),
    (br#"a 1 NaN"#, r#"invalid timestamp"#),
    (br#"a 1 -Inf"#, r#"invalid timestamp"#),
    (br#"a 1 Inf"#, r#"invalid timestamp"#),
    (
        b"# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 NaN",
        r#"invalid exemplar timestamp"#,
    ),
    (
        b"# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 -Inf",
        r#"invalid exemplar timestamp"#,
    ),
    (
        b"# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 Inf",
        r#"invalid exemplar timestamp"#,
    ),
    (b"null_byte_metric{a=\"abc\x00\"} 1\n# EOF\n", ""),
    (b"a{b=\"\x00ss\"} 1\n# EOF\n", ""),
    (b"a{b=\"\x00\"} 1\n# EOF\n", ""),
    (b"a{b=\"\x00\"} 1\n# EOF", ""),
    (
        b"a{b=\x00\"ssss\"} 1\n# EOF\n",
        "expected label value, got \"INVALID\"",
    ),
    (b"a{b=\"\x00", "expected label value, got \"INVALID\""),
    (b"a{b\x00=\"hiih\"}	1", "expected equal, got \"INVALID\""),
    (
        b"a\x00{b=\"ddd\"} 1",
        "expected value after metric, got \"INVALID\"",
    ),
    (b"#", "\"INVALID\" \" \" is not a valid start token"),
    (b"# H", "\"INVALID\" \" \" is not a valid start token"),
    (
        b"custom_metric_total 1 # {b=\x00\"ssss\"} 1\n",
        "expected label value, got \"INVALID\"",
    ),
    (
        b"custom_metric_total 1 # {b=\"\x00ss\"} 1\n",
        "expected label value, got \"INVALID\"",
    ),
];
