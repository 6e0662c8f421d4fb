import Testing
import JSON

private func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue { try JSONParser.parse(Array(text.utf8)) }
private func written(_ value: JSONValue) -> String { String(decoding: JSONWriter.write(value), as: UTF8.self) }

@Suite struct ParserTests {
    @Test func readsEveryKindOfValue() throws {
        let value = try parse(#" {"a": [1, -2.5, 1e3, true, false, null], "b": {"c": "d"}, "e": ""} "#)
        #expect(value == .object([
            "a": .array([.number(1), .number(-2.5), .number(1000), .bool(true), .bool(false), .null]),
            "b": .object(["c": .string("d")]),
            "e": .string(""),
        ]))
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        #expect(try parse(#""a\"b\\c\/d\n\t\u00e9\ud83d\ude00""#) == .string("a\"b\\c/d\n\té😀"))
        // A lone surrogate is U+FFFD, as Go reads it.
        #expect(try parse(#""\ud800x""#) == .string("\u{FFFD}x"))
    }

    @Test func keepsTheLastOfTwoEqualKeys() throws {
        #expect(try parse(#"{"a":1,"a":2}"#) == .object(["a": .number(2)]))
    }

    @Test(arguments: [
        "", "{", "{\"a\":1,}", "[1,]", "{'a':1}", "01", "1.", "-", "tru", "nul", "\"abc", "\"a\u{01}b\"",
        "{\"a\" 1}", "[1 2]", "{} {}", "\"\\x\"", "\"\\u12\"", "1e", "NaN", "// c\n{}", "{\"a\":1e999}",
    ])
    func refusesWhatIsNotJSON(_ text: String) {
        #expect(throws: JSONSyntaxError.self) { try parse(text) }
    }

    @Test func saysWhereTheDocumentBreaks() {
        do {
            _ = try parse(#"{"a": tru}"#)
            Issue.record("accepted a bad literal")
        } catch {
            #expect(error.offset == 6)
        }
    }

    @Test func stopsAtADepthNoConfigReaches() throws {
        let depth = JSONParser.maximumDepth + 1
        let deep = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(throws: JSONSyntaxError.self) { try parse(deep) }
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        _ = try parse(fine)
    }
}

@Suite struct WriterTests {
    @Test func sortsKeysAndLeavesSlashesAlone() {
        #expect(written(.object(["b": .string("10.0.0.2/24"), "a": .number(1500)])) == #"{"a":1500,"b":"10.0.0.2/24"}"#)
    }

    @Test func escapesOnlyWhatJSONRequires() {
        #expect(written(.string("q\"b\\n\n\u{01}é")) == #""q\"b\\n\n\u0001é""#)
    }

    @Test func printsFractionsAndWholeNumbersAsTheyCame() {
        #expect(written(.array([.number(1.5), .number(-3), .number(0)])) == "[1.5,-3,0]")
    }

    @Test func readsBackWhatItWrites() throws {
        let value = JSONValue.object(["x": .array([.null, .bool(true), .string("\u{7f}\"\\/"), .object([:])]),
                                      "y": .number(0.25)])
        #expect(try JSONParser.parse(JSONWriter.write(value)) == value)
    }
}
