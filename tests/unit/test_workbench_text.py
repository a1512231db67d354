"""How the workbench sorts and searches Chinese text."""
from __future__ import annotations

from mdm.api.i18n import MESSAGES
from mdm.api.web import normalised, pinyin_key


def test_names_sort_by_pinyin_not_by_code_point():
    names = ["张三", "李四", "阿明", "长城", "重庆长安", "apple", "Banana", "王五"]
    assert sorted(names, key=pinyin_key) == ["阿明", "apple", "Banana", "长城", "重庆长安", "李四", "王五", "张三"]
    assert sorted(names) != sorted(names, key=pinyin_key)  # code points would put 张 before 李


def test_search_folds_full_width_and_case():
    assert normalised("ＯＡ手改（供应商）") == normalised("oa手改(供应商)")


def test_every_message_speaks_both_languages():
    assert all(set(texts) == {"zh", "en"} and all(texts.values()) for texts in MESSAGES.values())
