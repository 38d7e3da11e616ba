import unittest

from minicsv import format_row, parse


class ParseTests(unittest.TestCase):
    def test_simple(self):
        self.assertEqual(parse("a,b\nc,d\n"), [["a", "b"], ["c", "d"]])

    def test_quoted_delimiter(self):
        self.assertEqual(parse('"x,y",z\n'), [["x,y", "z"]])

    def test_doubled_quote(self):
        self.assertEqual(parse('"say ""hi""",1'), [['say "hi"', "1"]])

    def test_semicolon(self):
        self.assertEqual(parse("a;b", delimiter=";"), [["a", "b"]])


class FormatTests(unittest.TestCase):
    def test_plain(self):
        self.assertEqual(format_row(["a", "b"]), "a,b")

    def test_comma(self):
        self.assertEqual(format_row(["a,b", "c"]), '"a,b",c')


if __name__ == "__main__":
    unittest.main()
