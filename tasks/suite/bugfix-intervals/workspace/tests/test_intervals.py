import unittest

from intervals import covers, merge, total_length


class MergeTests(unittest.TestCase):
    def test_overlapping(self):
        self.assertEqual(merge([(1, 4), (2, 6), (8, 9)]), [(1, 6), (8, 9)])

    def test_touching(self):
        self.assertEqual(merge([(1, 3), (3, 5)]), [(1, 5)])

    def test_invalid(self):
        with self.assertRaises(ValueError):
            merge([(5, 1)])

    def test_total_length(self):
        self.assertEqual(total_length([(0, 2), (1, 3)]), 3)

    def test_covers(self):
        self.assertTrue(covers([(0, 1)], 1))
        self.assertFalse(covers([(0, 1)], 1.5))


if __name__ == "__main__":
    unittest.main()
