"""Seed the demo ERP with realistic, deterministic Chinese master data (用友/金蝶 style).

Creates the tables of `sql/erp.sql` and, when `supplier` is empty, fills every table via COPY.
"""
from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import psycopg

logger = logging.getLogger(__name__)
T = TypeVar("T")

ERP_SQL = Path(__file__).parent / "sql" / "erp.sql"
ERP_TABLES = (
    "department", "employee", "supplier", "supplier_bank_account",
    "supplier_tax_identifier", "customer", "material",
)
INACTIVE_RATE = 0.03
LONG_DESCRIPTION_RATE = 0.03
CST = timezone(timedelta(hours=8), "CST")
_SEED_LOCK_ID = 0x6D646D5345454400  # pg_advisory_xact_lock key: "mdmSEED"

# -- 统一社会信用代码 (GB 32100-2015) ----------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714-1997
_ORG_CODE_BODY = USCC_ALPHABET  # keeps generated org codes inside the USCC alphabet


def uscc_check_digit(first17: str) -> str:
    """The 18th character of a 统一社会信用代码 given its first 17 (GB 32100-2015, mod 31)."""
    if len(first17) != 17:
        raise ValueError(f"expected 17 characters, got {len(first17)}")
    total = 0
    for char, weight in zip(first17.upper(), USCC_WEIGHTS):
        value = USCC_ALPHABET.find(char)
        if value < 0:
            raise ValueError(f"character {char!r} is not allowed in a USCC")
        total += value * weight
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    """True when `code` is 18 USCC characters whose last one is the correct check digit."""
    if len(code) != 18 or any(c not in USCC_ALPHABET for c in code):
        return False
    return uscc_check_digit(code[:17]) == code[17]


def _org_code_check_digit(first8: str) -> str:
    """Check digit of a 组织机构代码 (GB 11714): mod 11, 10 → X, 11 → 0."""
    total = sum(int(c, 36) * w for c, w in zip(first8, _ORG_CODE_WEIGHTS))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def _make_org_code(rng: random.Random) -> str:
    if rng.random() < 0.35:  # codes issued after 2015 start with MA
        body = "MA" + "".join(rng.choice(_ORG_CODE_BODY) for _ in range(6))
    else:
        body = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(7))
    return body + _org_code_check_digit(body)


def make_uscc(rng: random.Random, division: str | None = None) -> str:
    """A plausible 18-character 统一社会信用代码 with a correct check digit.

    Layout: 9 (工商登记) + 1 (企业) + 6-digit 行政区划码 + 9-character 组织机构代码 + check.
    """
    if division is None:
        division = rng.choice(_CITIES).pick_district(rng)[1]
    first17 = "91" + division + _make_org_code(rng)
    return first17 + uscc_check_digit(first17)


# -- reference vocabulary ---------------------------------------------------------------------


@dataclass(frozen=True)
class City:
    name: str
    province: str
    region: str
    area_code: str
    districts: tuple[tuple[str, str], ...]  # (name, 行政区划码)
    weight: int = 1

    def pick_district(self, rng: random.Random) -> tuple[str, str]:
        return rng.choice(self.districts)

    @property
    def is_municipality(self) -> bool:
        return self.province == self.name + "市"


_CITIES: tuple[City, ...] = (
    City("苏州", "江苏省", "华东", "0512", (("虎丘区", "320505"), ("吴中区", "320506"),
                                           ("相城区", "320507"), ("吴江区", "320509")), 9),
    City("无锡", "江苏省", "华东", "0510", (("锡山区", "320205"), ("惠山区", "320206"),
                                           ("滨湖区", "320211"), ("新吴区", "320214")), 5),
    City("南京", "江苏省", "华东", "025", (("玄武区", "320102"), ("秦淮区", "320104"),
                                          ("浦口区", "320111"), ("江宁区", "320115")), 4),
    City("上海", "上海市", "华东", "021", (("闵行区", "310112"), ("嘉定区", "310114"),
                                          ("浦东新区", "310115"), ("松江区", "310117")), 8),
    City("杭州", "浙江省", "华东", "0571", (("西湖区", "330106"), ("滨江区", "330108"),
                                           ("萧山区", "330109"), ("余杭区", "330110")), 5),
    City("宁波", "浙江省", "华东", "0574", (("北仑区", "330206"), ("镇海区", "330211"),
                                           ("鄞州区", "330212")), 4),
    City("青岛", "山东省", "华东", "0532", (("黄岛区", "370211"), ("李沧区", "370213"),
                                           ("城阳区", "370214")), 3),
    City("济南", "山东省", "华东", "0531", (("历下区", "370102"), ("槐荫区", "370104")), 2),
    City("合肥", "安徽省", "华东", "0551", (("蜀山区", "340104"), ("包河区", "340111")), 2),
    City("福州", "福建省", "华东", "0591", (("鼓楼区", "350102"), ("仓山区", "350104")), 1),
    City("厦门", "福建省", "华东", "0592", (("思明区", "350203"), ("湖里区", "350206")), 2),
    City("深圳", "广东省", "华南", "0755", (("福田区", "440304"), ("南山区", "440305"),
                                           ("宝安区", "440306"), ("龙岗区", "440307")), 8),
    City("广州", "广东省", "华南", "020", (("白云区", "440111"), ("天河区", "440106"),
                                          ("黄埔区", "440112"), ("番禺区", "440113")), 5),
    City("东莞", "广东省", "华南", "0769", (("长安镇", "441900"), ("虎门镇", "441900"),
                                           ("松山湖", "441900")), 6),
    City("佛山", "广东省", "华南", "0757", (("禅城区", "440604"), ("南海区", "440605"),
                                           ("顺德区", "440606")), 4),
    City("北京", "北京市", "华北", "010", (("朝阳区", "110105"), ("海淀区", "110108"),
                                          ("顺义区", "110113"), ("大兴区", "110115")), 3),
    City("天津", "天津市", "华北", "022", (("西青区", "120111"), ("津南区", "120112"),
                                          ("滨海新区", "120116")), 3),
    City("武汉", "湖北省", "华中", "027", (("江汉区", "420103"), ("洪山区", "420111"),
                                          ("东西湖区", "420112")), 2),
    City("长沙", "湖南省", "华中", "0731", (("岳麓区", "430104"), ("雨花区", "430111")), 2),
    City("郑州", "河南省", "华中", "0371", (("二七区", "410103"), ("金水区", "410105")), 2),
    City("成都", "四川省", "西南", "028", (("武侯区", "510107"), ("成华区", "510108"),
                                          ("双流区", "510116")), 3),
    City("重庆", "重庆市", "西南", "023", (("江北区", "500105"), ("九龙坡区", "500107"),
                                          ("渝北区", "500112")), 2),
    City("西安", "陕西省", "西北", "029", (("未央区", "610112"), ("雁塔区", "610113")), 2),
    City("沈阳", "辽宁省", "东北", "024", (("铁西区", "210106"), ("浑南区", "210112")), 1),
    City("大连", "辽宁省", "东北", "0411", (("甘井子区", "210211"), ("金州区", "210213")), 1),
)
_CITY_WEIGHTS = [c.weight for c in _CITIES]

_TRADE_NAMES = (
    "恒达", "华联", "宏远", "鑫源", "盛泰", "金诚", "天成", "永信", "中科", "瑞丰", "博远", "新华",
    "汇通", "佳禾", "精工", "力拓", "东方", "长城", "海天", "振华", "明阳", "信达", "伟业", "嘉诚",
    "日升", "联创", "三维", "兴隆", "富康", "安泰", "正泰", "德信", "利民", "同创", "远航", "凯盛",
    "华锐", "卓越", "万通", "众鑫", "荣昌", "锦程", "宝丰", "和顺", "达利", "金鹰", "广源", "天润",
    "欣旺", "昊天", "世纪", "启明", "华星", "晨光", "志高", "新宇", "泰和", "鼎盛", "宏图", "创新",
)

# (industry as written in the name, short form, supplier category)
_SUPPLIER_INDUSTRIES: tuple[tuple[str, str, str], ...] = (
    ("精密机械", "精密", "五金标准件"), ("五金制品", "五金", "五金标准件"),
    ("紧固件", "紧固件", "五金标准件"), ("轴承", "轴承", "轴承"),
    ("传动科技", "传动", "轴承"), ("电子科技", "电子", "电子元器件"),
    ("电子元器件", "电子", "电子元器件"), ("金属材料", "金属", "原材料"),
    ("钢材贸易", "钢贸", "原材料"), ("塑胶制品", "塑胶", "原材料"),
    ("新材料科技", "新材", "原材料"), ("包装材料", "包装", "包装材料"),
    ("纸制品", "纸品", "包装材料"), ("化工", "化工", "化工辅料"),
    ("润滑油", "润滑", "化工辅料"), ("电线电缆", "线缆", "电线电缆"),
    ("劳保用品", "劳保", "劳保用品"), ("自动化设备", "自动化", "设备备件"),
    ("机电设备", "机电", "设备备件"), ("物流", "物流", "物流服务"),
)
_CUSTOMER_INDUSTRIES = (
    "汽车零部件", "电气设备", "家用电器", "机电设备", "新能源科技", "医疗器械", "智能装备",
    "工程机械", "建设工程", "商贸", "工业技术", "光电科技", "船舶配件", "轨道交通设备",
)
_ROADS = (
    "建设路", "人民路", "长江路", "黄河路", "创业路", "科技路", "工业大道", "高新大道", "新华路",
    "解放路", "中山路", "发展大道", "兴业路", "富民路", "园区路", "金桥路", "星湖街", "滨江大道",
)
_SUPPLIER_REMARKS = (
    "年度合格供应商", "账期按合同执行，月结", "2023年复审通过，需关注交期", "仅限小批量采购",
    "ISO9001认证有效", "付款需提供增值税专用发票", "质量稳定，可免检入库", "交期偶有延误，已发整改通知",
    "新导入供应商，试用期六个月", "与采购部签订年度框架协议", "需预付30%货款", "战略供应商，优先合作",
)
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵"
)
_GIVEN_MALE = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林欢阳建国志文海峰"
_GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀燕玲桂丹萍红婷雪琳慧颖倩洁佳琪璐晶欣怡雅楠悦妍婉"
_BANKS: tuple[tuple[str, int], ...] = (  # (bank, account number length)
    ("中国工商银行", 19), ("中国建设银行", 19), ("中国农业银行", 19), ("中国银行", 18),
    ("交通银行", 17), ("招商银行", 16), ("上海浦东发展银行", 17), ("中信银行", 19),
    ("兴业银行", 18), ("中国民生银行", 16), ("平安银行", 17), ("江苏银行", 17),
)


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    manager_title: str
    staff_titles: tuple[str, ...]
    salary: tuple[int, int]
    active: bool = True

    @property
    def parent_code(self) -> str | None:
        return self.code[:-2] if len(self.code) > 3 else None


_OFFICE = ("行政专员", "文员")
DEPARTMENTS: tuple[Department, ...] = (
    Department("D01", "总经办", "总经理", ("副总经理", "总经理助理"), (15000, 45000)),
    Department("D0101", "行政部", "行政经理", ("行政专员", "前台", "司机"), (5000, 12000)),
    Department("D0102", "法务部", "法务经理", ("法务专员",), (8000, 18000)),
    Department("D02", "财务部", "财务经理", ("会计", "出纳"), (7000, 20000)),
    Department("D0201", "会计核算科", "主管会计", ("总账会计", "成本会计", "会计"), (6000, 14000)),
    Department("D0202", "资金管理科", "资金主管", ("出纳", "资金专员"), (6000, 13000)),
    Department("D03", "采购部", "采购经理", ("采购员", "采购助理"), (7000, 18000)),
    Department("D0301", "原材料采购科", "采购主管", ("采购员", "供应商质量工程师"), (6000, 12000)),
    Department("D0302", "设备采购科", "采购主管", ("采购员",), (6000, 12000)),
    Department("D0303", "外协采购科", "采购主管", ("采购员",), (6000, 11000), active=False),
    Department("D04", "生产部", "生产经理", ("生产计划员", "统计员"), (9000, 22000)),
    Department("D0401", "一车间", "车间主任", ("工艺员", "设备员"), (7000, 14000)),
    Department("D040101", "机加工班", "班长", ("数控操作工", "车工", "铣工", "钳工"), (5000, 9000)),
    Department("D040102", "装配班", "班长", ("装配工", "调试员"), (4800, 8500)),
    Department("D0402", "二车间", "车间主任", ("工艺员", "设备员"), (7000, 14000)),
    Department("D040201", "注塑班", "班长", ("注塑操作工", "模具工"), (4800, 8500)),
    Department("D040202", "喷涂班", "班长", ("喷涂工", "包装工"), (4800, 8000)),
    Department("D0403", "质量管理科", "质量主管", ("质检员", "质量工程师"), (6000, 13000)),
    Department("D05", "仓储物流部", "物流经理", ("计划员",), (8000, 16000)),
    Department("D0501", "原料仓", "仓库主管", ("仓管员", "叉车工"), (4500, 9000)),
    Department("D0502", "成品仓", "仓库主管", ("仓管员", "叉车工"), (4500, 9000)),
    Department("D0503", "物流运输科", "运输主管", ("物流专员", "司机"), (5000, 10000)),
    Department("D06", "销售部", "销售总监", ("销售助理",), (10000, 30000)),
    Department("D0601", "华东销售区", "区域经理", ("销售代表", "客服专员"), (6000, 18000)),
    Department("D0602", "华南销售区", "区域经理", ("销售代表", "客服专员"), (6000, 18000)),
    Department("D07", "人力资源部", "人事经理", ("招聘专员", "薪酬专员", "培训专员"), (6000, 16000)),
    Department("D08", "研发中心", "研发总监", ("项目经理",), (15000, 35000)),
    Department("D0801", "结构设计室", "主任工程师", ("结构工程师", "助理工程师"), (9000, 22000)),
    Department("D0802", "电气设计室", "主任工程师", ("电气工程师", "软件工程师"), (9000, 24000)),
)


@dataclass(frozen=True)
class MaterialKind:
    category: str
    name: str
    spec: str  # str.format template, one random choice per placeholder
    params: dict[str, Sequence[Any]]
    uom: str
    price: tuple[float, float]
    weight: tuple[float, float]
    shelf_life_days: int | None = None
    usage: str = "生产通用"

    def make_spec(self, rng: random.Random) -> str:
        return self.spec.format(**{k: rng.choice(v) for k, v in self.params.items()})


_M_SIZES = (4, 5, 6, 8, 10, 12, 16, 20)
MATERIAL_KINDS: tuple[MaterialKind, ...] = (
    MaterialKind("五金标准件", "六角螺栓", "M{d}×{l} GB/T 5782 {g}级",
                 {"d": _M_SIZES, "l": (16, 20, 25, 30, 35, 40, 50, 60, 80, 100),
                  "g": ("4.8", "8.8")},
                 "个", (0.05, 4.5), (0.004, 0.3), usage="设备框架及支架紧固"),
    MaterialKind("五金标准件", "内六角圆柱头螺钉", "M{d}×{l} GB/T 70.1 12.9级",
                 {"d": (3, 4, 5, 6, 8, 10), "l": (8, 10, 12, 16, 20, 25, 30, 40)},
                 "个", (0.03, 1.8), (0.002, 0.08), usage="模组及夹具装配"),
    MaterialKind("五金标准件", "六角螺母", "M{d} GB/T 6170 {g}级 {m}",
                 {"d": _M_SIZES, "g": ("8", "10"), "m": ("蓝白锌", "发黑", "达克罗")},
                 "个", (0.02, 0.9), (0.001, 0.05), usage="与六角螺栓配套使用"),
    MaterialKind("五金标准件", "平垫圈", "{d} GB/T 97.1 {m}",
                 {"d": _M_SIZES, "m": ("镀锌", "不锈钢304", "不锈钢316")},
                 "个", (0.01, 0.4), (0.001, 0.02)),
    MaterialKind("五金标准件", "弹簧垫圈", "{d} GB/T 93 {m}",
                 {"d": _M_SIZES, "m": ("65Mn发黑", "不锈钢304")}, "个", (0.01, 0.3), (0.001, 0.01)),
    MaterialKind("轴承", "深沟球轴承", "{s}-{seal} {brand}",
                 {"s": (6000, 6001, 6002, 6003, 6004, 6200, 6201, 6202, 6203, 6204, 6205, 6206,
                        6301, 6302, 6304), "seal": ("2RS", "ZZ", "2Z"),
                  "brand": ("人本", "哈轴", "瓦轴", "NSK", "SKF")},
                 "套", (4.0, 68.0), (0.02, 0.4), usage="电机及传动轴支撑"),
    MaterialKind("轴承", "圆锥滚子轴承", "{s} {brand}",
                 {"s": (30204, 30205, 30206, 30207, 32008, 32210, 33109),
                  "brand": ("哈轴", "瓦轴", "洛轴", "TIMKEN")},
                 "套", (18.0, 160.0), (0.15, 1.2), usage="减速机输出轴"),
    MaterialKind("轴承", "直线轴承", "LM{d}UU{t}", {"d": (8, 10, 12, 16, 20, 25, 30),
                                                  "t": ("", "-OP", " 加长型")},
                 "个", (6.0, 45.0), (0.01, 0.2), usage="直线导向机构"),
    MaterialKind("电子元器件", "贴片电阻", "{p} {r} ±1% 5000只/卷",
                 {"p": ("0402", "0603", "0805", "1206"),
                  "r": ("10Ω", "100Ω", "1kΩ", "4.7kΩ", "10kΩ", "47kΩ", "100kΩ", "1MΩ")},
                 "卷", (6.0, 35.0), (0.05, 0.3), usage="控制板贴片"),
    MaterialKind("电子元器件", "贴片电容", "{p} {c} {v} X7R 4000只/卷",
                 {"p": ("0402", "0603", "0805"), "c": ("10nF", "100nF", "1μF", "4.7μF", "10μF"),
                  "v": ("16V", "25V", "50V")},
                 "卷", (12.0, 90.0), (0.05, 0.3), usage="控制板贴片"),
    MaterialKind("电子元器件", "铝电解电容", "{c}μF {v}V {d}×{h}mm 105℃",
                 {"c": (10, 47, 100, 220, 470, 1000), "v": (16, 25, 35, 50, 63),
                  "d": (5, 6.3, 8, 10), "h": (11, 12, 16, 20)},
                 "个", (0.08, 1.5), (0.001, 0.01), shelf_life_days=730, usage="电源板插件"),
    MaterialKind("电子元器件", "单片机", "{m}",
                 {"m": ("STM32F103C8T6", "STM32F030F4P6", "GD32F303RCT6", "ATmega328P-AU",
                        "CH32V203C8T6", "STM32G431CBU6")},
                 "个", (2.5, 28.0), (0.001, 0.005), usage="主控板"),
    MaterialKind("电子元器件", "继电器", "{m} {v}VDC {c}",
                 {"m": ("HF46F", "JQC-3FF", "G5LE-14", "HF115F"), "v": (5, 12, 24),
                  "c": ("一开一闭", "一组常开", "两组转换")},
                 "个", (1.5, 12.0), (0.005, 0.03), usage="电控柜"),
    MaterialKind("原材料", "冷轧钢板", "SPCC {t}×1250×2500",
                 {"t": ("0.5", "0.8", "1.0", "1.2", "1.5", "2.0", "3.0")},
                 "张", (120.0, 760.0), (12.0, 75.0), usage="钣金件下料"),
    MaterialKind("原材料", "不锈钢板", "SUS304 {t}×1219×2438 {f}",
                 {"t": ("0.8", "1.0", "1.5", "2.0", "3.0"), "f": ("2B", "BA", "拉丝", "镜面")},
                 "张", (380.0, 1900.0), (18.0, 72.0), usage="外壳及防护罩"),
    MaterialKind("原材料", "铝型材", "6063-T5 {a}×{a} {s}",
                 {"a": (20, 30, 40, 45, 60, 80), "s": ("欧标", "国标", "重型")},
                 "米", (12.0, 95.0), (0.4, 4.5), usage="设备框架"),
    MaterialKind("原材料", "圆钢", "{m} Φ{d}", {"m": ("45#", "40Cr", "Q235"),
                                              "d": (12, 16, 20, 25, 30, 40, 50, 60)},
                 "千克", (4.2, 9.8), (1.0, 1.0), usage="轴类零件加工"),
    MaterialKind("原材料", "紫铜排", "T2 {a}×{b}", {"a": (3, 4, 5, 6, 8, 10), "b": (20, 30, 40, 50, 60)},
                 "千克", (62.0, 88.0), (1.0, 1.0), usage="配电柜母排"),
    MaterialKind("原材料", "ABS塑料粒子", "{g} {c} 25kg/袋",
                 {"g": ("PA-757", "0215A", "121H", "AG15A1"), "c": ("本色", "黑色", "象牙白")},
                 "千克", (9.5, 18.0), (1.0, 1.0), shelf_life_days=365, usage="注塑外壳"),
    MaterialKind("原材料", "聚丙烯颗粒", "PP {g} 25kg/袋", {"g": ("T30S", "K8003", "EPS30R", "V30G")},
                 "千克", (7.2, 11.5), (1.0, 1.0), shelf_life_days=365, usage="注塑件"),
    MaterialKind("包装材料", "瓦楞纸箱", "{ply}层 {l}×{w}×{h}mm",
                 {"ply": ("三", "五", "七"), "l": (300, 400, 500, 600), "w": (200, 300, 400),
                  "h": (150, 200, 300, 400)},
                 "个", (1.2, 12.0), (0.2, 1.8), usage="成品外包装"),
    MaterialKind("包装材料", "缠绕膜", "{w}mm×{t}μm×{n}m", {"w": (300, 500), "t": (15, 20, 23, 25),
                                                    "n": (200, 300, 500)},
                 "卷", (18.0, 65.0), (1.5, 4.8), usage="托盘缠绕"),
    MaterialKind("包装材料", "封箱胶带", "{w}mm×{n}m {c}", {"w": (45, 48, 60), "n": (50, 100, 150),
                                                      "c": ("透明", "米黄", "印字")},
                 "卷", (1.8, 6.5), (0.15, 0.5), shelf_life_days=730, usage="纸箱封口"),
    MaterialKind("包装材料", "珍珠棉", "EPE {t}mm 1000×2000 {c}",
                 {"t": (2, 5, 10, 20, 30), "c": ("白色", "防静电粉色")},
                 "张", (0.8, 9.0), (0.05, 1.2), usage="内衬防护"),
    MaterialKind("包装材料", "木托盘", "{l}×{w}mm {k}", {"l": (1200, 1100, 1000), "w": (1000, 800),
                                                    "k": ("熏蒸", "免熏蒸胶合板", "四面进叉")},
                 "个", (45.0, 130.0), (12.0, 28.0), usage="出口发货"),
    MaterialKind("化工辅料", "抗磨液压油", "L-HM {g} {v}L", {"g": (32, 46, 68), "v": (18, 170, 200)},
                 "桶", (260.0, 3600.0), (16.0, 180.0), shelf_life_days=1095, usage="液压站换油"),
    MaterialKind("化工辅料", "水溶性切削液", "{b} {v}L", {"b": ("半合成", "全合成", "乳化型"),
                                                     "v": (18, 200)},
                 "桶", (320.0, 4200.0), (17.0, 205.0), shelf_life_days=730, usage="数控机床"),
    MaterialKind("化工辅料", "锂基润滑脂", "{g}# {w}kg", {"g": (0, 1, 2, 3), "w": (0.8, 15, 180)},
                 "桶", (28.0, 2600.0), (0.8, 180.0), shelf_life_days=1095, usage="轴承润滑"),
    MaterialKind("化工辅料", "环氧树脂AB胶", "{m} {v}ml", {"m": ("E-44", "5分钟快干", "透明高强"),
                                                      "v": (50, 100, 250)},
                 "套", (12.0, 85.0), (0.08, 0.4), shelf_life_days=365, usage="灌封及粘接"),
    MaterialKind("化工辅料", "防锈油", "{m} {v}L", {"m": ("薄层", "脱水", "长效"), "v": (4, 18, 200)},
                 "桶", (90.0, 3100.0), (3.6, 185.0), shelf_life_days=730, usage="零件防锈"),
    MaterialKind("电线电缆", "铜芯软电线", "BVR {s}mm² {c} 100米/卷",
                 {"s": ("1.0", "1.5", "2.5", "4", "6"), "c": ("红", "黄", "蓝", "绿", "黑", "黄绿双色")},
                 "卷", (85.0, 620.0), (1.2, 6.5), usage="电控柜布线"),
    MaterialKind("电线电缆", "护套软电缆", "RVV {n}×{s}mm² {v}",
                 {"n": (2, 3, 4, 5), "s": ("0.75", "1.0", "1.5", "2.5"),
                  "v": ("300/500V", "450/750V")},
                 "米", (2.2, 18.0), (0.05, 0.3), usage="设备动力线"),
    MaterialKind("劳保用品", "丁腈手套", "{z}码 100只/盒 {c}", {"z": ("S", "M", "L", "XL"),
                                                           "c": ("蓝色", "黑色", "白色")},
                 "箱", (180.0, 420.0), (6.0, 9.0), shelf_life_days=1095, usage="车间作业防护"),
    MaterialKind("劳保用品", "安全帽", "ABS {t} {c}", {"t": ("V型", "圆顶", "透气"),
                                                   "c": ("红", "黄", "蓝", "白")},
                 "个", (12.0, 48.0), (0.3, 0.5), usage="现场作业"),
    MaterialKind("劳保用品", "防护眼镜", "{t} {c}", {"t": ("防冲击", "防雾", "防飞溅"),
                                                 "c": ("透明", "灰色")},
                 "件", (6.0, 38.0), (0.03, 0.08)),
    MaterialKind("设备备件", "三相异步电动机", "YE3-{f}-{p} {kw}kW",
                 {"f": ("80M1", "90S", "100L", "112M", "132S"), "p": (2, 4, 6),
                  "kw": ("0.75", "1.5", "2.2", "4", "5.5")},
                 "套", (680.0, 3800.0), (12.0, 60.0), usage="输送线驱动"),
    MaterialKind("设备备件", "标准气缸", "SC{d}×{s}{t}", {"d": (32, 40, 50, 63, 80),
                                                    "s": (25, 50, 75, 100, 150, 200),
                                                    "t": ("", "-S", "-LB")},
                 "件", (85.0, 420.0), (0.6, 3.5), usage="气动夹具"),
    MaterialKind("设备备件", "电磁阀", "{m} {v}", {"m": ("4V210-08", "4V310-10", "3V210-08"),
                                              "v": ("DC24V", "AC220V")},
                 "个", (38.0, 160.0), (0.2, 0.5), usage="气动控制"),
    MaterialKind("设备备件", "同步带", "HTD {l}-5M-{w}", {"l": (300, 450, 600, 800, 1000),
                                                     "w": (10, 15, 20, 25)},
                 "件", (8.0, 68.0), (0.02, 0.2), usage="传动机构"),
)

# -- long, varied Chinese text (TOAST-able descriptions) --------------------------------------

_TEXT_SLOTS: dict[str, tuple[str, ...]] = {
    "equip": ("数控车床", "注塑机", "装配线", "空压机", "输送线", "冲压机", "激光切割机", "包装机",
              "老化房", "喷涂线", "立体仓库堆垛机", "AGV小车"),
    "part": ("主轴", "导轨", "传动箱", "电控柜", "夹具", "进料口", "液压站", "冷却回路", "防护罩"),
    "check": ("安装孔位", "表面涂层", "批次标签", "外包装完好", "材质证明", "尺寸公差", "扭矩要求"),
    "doc": ("出厂检验报告", "材质证明书", "RoHS检测报告", "合格证", "MSDS安全技术说明书",
            "第三方检测报告", "批次追溯清单"),
    "process": ("来料检验", "首件确认", "入库登记", "质量追溯", "对账结算", "样品封存"),
    "std": ("GB/T 2828.1", "企业标准Q/HD 012", "客户图纸技术要求", "GB/T 3098.1", "IPC-A-610"),
    "aql": ("一般检验水平II、AQL 0.65", "一般检验水平II、AQL 1.0", "特殊检验水平S-3、AQL 2.5",
            "加严检验、AQL 0.4"),
    "hazard": ("阳光直射", "雨淋受潮", "与酸碱物品混放", "重压变形", "靠近热源", "粉尘污染"),
    "change": ("更换了外包装规格", "调整了最小包装数量", "切换为新版图纸", "由进口改为国产替代",
               "增加了防静电要求", "更新了标签格式"),
    "policy": ("先进先出", "评审后降级使用", "退回供应商", "报废处理", "优先消耗"),
    "defect": ("尺寸超差", "表面划伤", "锈蚀", "批次混料", "标签错误", "包装破损", "性能不达标"),
    "form": ("《不合格品处置单》", "《质量异常联络单》", "《8D报告》", "《让步接收申请单》"),
    "dept": ("质量管理科", "采购部", "研发中心", "生产部", "仓储物流部", "财务部"),
    "pack": ("纸箱加珍珠棉内衬", "木箱真空包装", "吸塑盘分格", "编织袋", "卷盘加防潮袋", "托盘缠绕膜"),
    "mark": ("物料编码和批次号", "生产日期及有效期", "防潮防倒置标识", "供应商代码", "二维码追溯标签"),
    "items": ("尺寸与性能对比", "可靠性试验", "成本与交期", "供应商资质", "小批量试产结果"),
    "system": ("PLM系统", "ERP物料主数据", "质量管理系统", "OA审批流程", "工程变更台账"),
    "period": ("上半年", "近三个月", "去年同期", "第四季度", "近十二个月"),
    "param": ("热处理硬度", "表面处理工艺", "关键尺寸", "材料牌号", "包装数量", "供货周期"),
    "risk": ("单一来源", "价格波动", "交期不稳定", "进口受限", "产能紧张", "质量波动"),
    "measure": ("开发第二供应商", "签订年度锁价协议", "提高安全库存", "推行VMI寄售", "驻厂监造"),
}
_TEXT_TEMPLATES = (
    "本物料主要用于{equip}的{part}部位，安装前应确认{check}，并记录于{system}。",
    "供应商须随货提供{doc}，仓库在{n}个工作日内完成{process}后方可发料。",
    "来料检验按{std}执行，抽样方案为{aql}，关键尺寸公差控制在±{tol}mm以内。",
    "仓储环境温度应保持在{t1}℃至{t2}℃之间，相对湿度不高于{rh}%，避免{hazard}。",
    "{year}年{month}月起，该物料{change}，旧版库存按{policy}原则处理。",
    "如发现{defect}，应立即隔离并填写{form}，通知{dept}在{hours}小时内给出处置意见。",
    "包装方式为{pack}，每件净重约{w}千克，外箱须标注{mark}。",
    "替代料须经{dept}评审，评审内容包括{items}，结论录入{system}。",
    "历史采购数据显示，{period}平均交期为{n}天，最小起订量{moq}，建议安全库存不低于{ss}。",
    "第{n}次工程变更（ECN-{year}{ecn}）调整了{param}，变更后首批{qty}件须全检。",
    "该物料存在{risk}风险，{dept}已制定应对措施：{measure}，预计于{year}年{month}月完成。",
    "{equip}点检中发现{part}磨损时，应优先领用本物料，领用数量以维修工单为准。",
    "月度盘点差异率须控制在{pct}%以内，超出部分由{dept}会同财务部分析原因。",
)
_SECTION_TITLES = ("一、适用范围", "二、技术要求", "三、检验与验收", "四、包装与标识",
                   "五、储存与运输", "六、替代与变更", "七、供应风险", "八、其他说明")


def _sentence(rng: random.Random) -> str:
    values: dict[str, Any] = {k: rng.choice(v) for k, v in _TEXT_SLOTS.items()}
    values.update(
        n=rng.randint(2, 45), tol=rng.choice(("0.01", "0.02", "0.05", "0.1", "0.2", "0.5")),
        t1=rng.randint(0, 10), t2=rng.randint(25, 35), rh=rng.choice((60, 65, 70, 75, 80)),
        year=rng.randint(2019, 2025), month=rng.randint(1, 12), hours=rng.choice((4, 8, 24, 48)),
        w=round(rng.uniform(0.5, 30), 1), moq=rng.choice((100, 200, 500, 1000, 2000, 5000)),
        ss=rng.choice((50, 100, 300, 500, 800)), ecn=f"{rng.randint(1, 999):03d}",
        qty=rng.choice((20, 50, 100, 200)), pct=rng.choice(("0.1", "0.3", "0.5", "1")),
    )
    return rng.choice(_TEXT_TEMPLATES).format(**values)


def long_description(rng: random.Random, name: str, spec: str, min_chars: int = 4200) -> str:
    """Several sections of varied sentences, at least `min_chars` characters long."""
    parts = [f"{name}（{spec}）技术与管理说明。"]
    length = len(parts[0])
    section = 0
    while length < min_chars:
        title = _SECTION_TITLES[section % len(_SECTION_TITLES)]
        if section >= len(_SECTION_TITLES):
            title = f"{title}（补充{section // len(_SECTION_TITLES)}）"
        body = "".join(_sentence(rng) for _ in range(rng.randint(4, 9)))
        parts.append(f"\n{title}\n{body}")
        length += len(title) + len(body) + 2
        section += 1
    return "".join(parts)


# -- record builders -------------------------------------------------------------------------


def _person_name(rng: random.Random) -> tuple[str, str]:
    gender = rng.choice("MF")
    pool = _GIVEN_MALE if gender == "M" else _GIVEN_FEMALE
    given = "".join(rng.choice(pool) for _ in range(rng.choice((1, 2, 2))))
    return rng.choice(_SURNAMES) + given, gender


def _mobile(rng: random.Random) -> str:
    prefix = rng.choice(("130", "131", "133", "135", "136", "137", "138", "139", "150", "151",
                         "152", "155", "158", "159", "177", "180", "181", "186", "187", "188",
                         "189", "199"))
    return prefix + f"{rng.randint(0, 99_999_999):08d}"


def _landline(rng: random.Random, city: City) -> str:
    return f"{city.area_code}-{rng.randint(2, 8)}{rng.randint(0, 9_999_999):07d}"


def _address(rng: random.Random, city: City, district: str) -> str:
    head = city.province if city.is_municipality else f"{city.province}{city.name}市"
    number = f"{rng.randint(1, 999)}号"
    extra = rng.choice(("", "", "", f"{rng.randint(1, 12)}号厂房", f"{rng.choice('ABCD')}栋"
                        f"{rng.randint(1, 9)}楼"))
    return f"{head}{district}{rng.choice(_ROADS)}{number}{extra}"


def _company_name(rng: random.Random, city: City, industry: str, taken: set[str]) -> str:
    for _ in range(50):
        place = city.name + ("市" if rng.random() < 0.5 else "")
        suffix = "股份有限公司" if rng.random() < 0.15 else "有限公司"
        name = f"{place}{rng.choice(_TRADE_NAMES)}{industry}{suffix}"
        if name not in taken:
            taken.add(name)
            return name
    name = f"{city.name}{rng.choice(_TRADE_NAMES)}{rng.choice(_TRADE_NAMES)}{industry}有限公司"
    taken.add(name)
    return name


def _money(rng: random.Random, low: int, high: int, step: int) -> Decimal:
    return Decimal(rng.randrange(low, high + 1, step)).quantize(Decimal("0.01"))


def _random_date(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, (end - start).days))


def _inactive_indexes(rng: random.Random, candidates: Sequence[T]) -> set[T]:
    """About INACTIVE_RATE of `candidates`, chosen at random."""
    count = round(len(candidates) * INACTIVE_RATE)
    return set(rng.sample(list(candidates), count))


@dataclass
class _Supplier:
    row: tuple[Any, ...]
    code: str
    name: str
    category: str
    city: City
    division: str
    established_on: date


def _supplier(rng: random.Random, index: int, taken: set[str], active: bool) -> _Supplier:
    city = rng.choices(_CITIES, weights=_CITY_WEIGHTS)[0]
    district, division = city.pick_district(rng)
    industry, short, category = rng.choice(_SUPPLIER_INDUSTRIES)
    name = _company_name(rng, city, industry, taken)
    trade = name.removeprefix(city.name).removeprefix("市")[:2]
    contact, _ = _person_name(rng)
    phone = _mobile(rng) if rng.random() < 0.3 else _landline(rng, city)
    established = _random_date(rng, date(1995, 1, 1), date(2021, 12, 31))
    audit = None
    if rng.random() < 0.9:
        audit = datetime(2023, 1, 1, 8, 30, tzinfo=CST) + timedelta(
            days=rng.randint(0, 900), minutes=rng.randint(0, 600))
    remark = rng.choice(_SUPPLIER_REMARKS) if rng.random() < 0.6 else None
    code = f"S{index:04d}"
    row = (code, name, trade + short, category, contact, phone, _address(rng, city, district),
           _money(rng, 50_000, 5_000_000, 10_000), rng.choice((0, 15, 30, 30, 45, 60, 60, 90, 120)),
           established, audit, remark, active)
    return _Supplier(row, code, name, category, city, division, established)


def _bank_accounts(rng: random.Random, supplier: _Supplier) -> list[tuple[Any, ...]]:
    count = 2 if rng.random() < 0.3 else 1
    default_at = rng.randrange(count)
    rows = []
    for i, (bank, length) in enumerate(rng.sample(_BANKS, count)):
        branch = f"{supplier.city.name}分行" if rng.random() < 0.5 else (
            f"{supplier.city.name}{rng.choice(supplier.city.districts)[0][:-1]}支行")
        number = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(length - 1))
        is_default = i == default_at
        active = is_default or rng.random() >= 0.1
        rows.append((bank + branch, supplier.name, number, is_default, active))
    return rows


def _tax_identifiers(rng: random.Random, supplier: _Supplier) -> list[tuple[Any, ...]]:
    uscc = make_uscc(rng, supplier.division)
    issued = max(supplier.established_on, date(2016, 1, 1))  # USCCs replaced old codes in 2016
    valid_from = issued + timedelta(days=rng.randint(0, 400))
    rows: list[tuple[Any, ...]] = [("USCC", uscc, valid_from)]
    if rng.random() < 0.25:  # old 15-character 纳税人识别号: 行政区划码 + 组织机构代码
        rows.append(("VAT", uscc[2:17], supplier.established_on))
    return rows


def _customer(rng: random.Random, index: int, taken: set[str], active: bool) -> tuple[Any, ...]:
    city = rng.choices(_CITIES, weights=_CITY_WEIGHTS)[0]
    _, division = city.pick_district(rng)
    name = _company_name(rng, city, rng.choice(_CUSTOMER_INDUSTRIES), taken)
    contact, _ = _person_name(rng)
    phone = _mobile(rng) if rng.random() < 0.5 else _landline(rng, city)
    tax_id = make_uscc(rng, division) if rng.random() < 0.92 else None
    return (f"C{index:04d}", name, city.region, _money(rng, 100_000, 20_000_000, 50_000), tax_id,
            contact, phone, active)


def _material(rng: random.Random, index: int, suppliers: list[_Supplier], long_text: bool,
              active: bool, taken: set[tuple[str, str]]) -> tuple[Any, ...]:
    for _ in range(20):  # avoid exact duplicates while the combinations last
        kind = rng.choice(MATERIAL_KINDS)
        spec = kind.make_spec(rng)
        if (kind.name, spec) not in taken:
            break
    taken.add((kind.name, spec))
    price = Decimal(str(round(rng.uniform(*kind.price), 4))).quantize(Decimal("0.0001"))
    weight = Decimal(str(round(rng.uniform(*kind.weight), 3))).quantize(Decimal("0.001"))
    matching = [s for s in suppliers if s.category == kind.category] or suppliers
    supplier_code = rng.choice(matching).code if matching else None
    if long_text:
        description: str | None = long_description(rng, kind.name, spec)
    elif rng.random() < 0.8:
        description = f"{kind.name}，规格{spec}，{kind.usage}。" + _sentence(rng)
    else:
        description = None
    effective = _random_date(rng, date(2018, 1, 1), date(2025, 6, 30))
    return (f"M-{1000 + index}", kind.name, spec, kind.category, kind.uom, price, weight,
            supplier_code, kind.shelf_life_days, effective, description, active)


@dataclass
class _Employee:
    code: str
    department: Department
    title: str
    is_manager: bool


def _staffing(rng: random.Random, count: int) -> list[_Employee]:
    """One manager per active department first, then staff spread over the departments."""
    active = [d for d in DEPARTMENTS if d.active]
    staff: list[_Employee] = []
    for dept in active[:count]:
        staff.append(_Employee("", dept, dept.manager_title, True))
    weights = [3 if len(d.code) == 7 else 2 if len(d.code) == 5 else 1 for d in active]
    while len(staff) < count:
        dept = rng.choices(active, weights=weights)[0]
        staff.append(_Employee("", dept, rng.choice(dept.staff_titles), False))
    for i, employee in enumerate(staff, start=1):
        employee.code = f"E{i:04d}"
    return staff


def _employee_row(rng: random.Random, emp: _Employee, dept_ids: dict[str, int],
                  active: bool) -> tuple[Any, ...]:
    name, gender = _person_name(rng)
    low, high = emp.department.salary
    floor = high - (high - low) // 3 if emp.is_manager else low
    salary = _money(rng, floor // 100 * 100, high, 100)
    hired = _random_date(rng, date(2008, 3, 1), date(2025, 3, 31))
    return (emp.code, name, gender, dept_ids[emp.department.code], emp.title, _mobile(rng),
            f"{emp.code.lower()}@example.com", hired, salary, active)


# -- database --------------------------------------------------------------------------------


def _copy(conn: psycopg.Connection, table: str, columns: Sequence[str],
          rows: Iterable[Sequence[Any]]) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _ids(conn: psycopg.Connection, table: str) -> dict[str, int]:
    return {code: id_ for code, id_ in conn.execute(f"SELECT code, id FROM {table}")}


def _insert_departments(conn: psycopg.Connection) -> dict[str, int]:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO department (code, name, parent_id, active) "
            "VALUES (%s, %s, (SELECT id FROM department WHERE code = %s), %s)",
            [(d.code, d.name, d.parent_code, d.active) for d in DEPARTMENTS],
        )
    return _ids(conn, "department")


def _insert_employees(conn: psycopg.Connection, rng: random.Random, count: int,
                      dept_ids: dict[str, int]) -> None:
    staff = _staffing(rng, count)
    leavers = _inactive_indexes(rng, [e.code for e in staff if not e.is_manager])
    _copy(conn, "employee", ("code", "name", "gender", "department_id", "title", "mobile", "email",
                             "hire_date", "monthly_salary", "active"),
          [_employee_row(rng, emp, dept_ids, emp.code not in leavers) for emp in staff])
    managers = [(emp.code, emp.department.code) for emp in staff if emp.is_manager]
    with conn.cursor() as cur:
        cur.executemany("UPDATE department SET manager_code = %s WHERE code = %s", managers)


def _insert_suppliers(conn: psycopg.Connection, rng: random.Random, count: int,
                      taken: set[str]) -> list[_Supplier]:
    inactive = _inactive_indexes(rng, range(1, count + 1))
    suppliers = [_supplier(rng, i, taken, i not in inactive) for i in range(1, count + 1)]
    _copy(conn, "supplier", ("code", "name", "short_name", "category", "contact_person", "phone",
                             "address", "credit_limit", "payment_terms_days", "established_on",
                             "last_audit_at", "remark", "active"),
          [s.row for s in suppliers])
    ids = _ids(conn, "supplier")
    banks, taxes = [], []
    for supplier in suppliers:
        sid = ids[supplier.code]
        banks += [(sid, *row) for row in _bank_accounts(rng, supplier)]
        taxes += [(sid, *row) for row in _tax_identifiers(rng, supplier)]
    _copy(conn, "supplier_bank_account",
          ("supplier_id", "bank_name", "account_name", "account_no", "is_default", "active"), banks)
    _copy(conn, "supplier_tax_identifier", ("supplier_id", "id_type", "id_value", "valid_from"),
          taxes)
    return suppliers


def _insert_customers(conn: psycopg.Connection, rng: random.Random, count: int,
                      taken: set[str]) -> None:
    inactive = _inactive_indexes(rng, range(1, count + 1))
    _copy(conn, "customer", ("code", "name", "region", "credit_limit", "tax_id", "contact_person",
                             "phone", "active"),
          [_customer(rng, i, taken, i not in inactive) for i in range(1, count + 1)])


def _insert_materials(conn: psycopg.Connection, rng: random.Random, count: int,
                      suppliers: list[_Supplier]) -> None:
    long_count = max(1, round(count * LONG_DESCRIPTION_RATE)) if count else 0
    long_indexes = set(rng.sample(range(1, count + 1), long_count))
    taken: set[tuple[str, str]] = set()
    inactive = _inactive_indexes(rng, range(1, count + 1))
    rows = [_material(rng, i, suppliers, i in long_indexes, i not in inactive, taken)
            for i in range(1, count + 1)]
    _copy(conn, "material", ("code", "name", "spec", "category", "uom", "standard_price",
                             "weight_kg", "default_supplier_code", "shelf_life_days",
                             "effective_from", "description", "active"), rows)


def table_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Row counts of the ERP tables."""
    counts = {}
    for table in ERP_TABLES:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        counts[table] = int(row[0]) if row else 0
    return counts


def seed_erp(conn: psycopg.Connection, *, suppliers: int = 220, materials: int = 1200,
             employees: int = 120, customers: int = 150, seed: int = 42) -> dict[str, int]:
    """Create the ERP tables and, if `supplier` is empty, fill them; return row counts per table."""
    rng = random.Random(seed)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SEED_LOCK_ID,))
        conn.execute(ERP_SQL.read_text(encoding="utf-8"))
        if conn.execute("SELECT 1 FROM supplier LIMIT 1").fetchone():
            logger.info("ERP already seeded; leaving its data unchanged")
            return table_counts(conn)
        dept_ids = _insert_departments(conn)
        _insert_employees(conn, rng, employees, dept_ids)
        company_names: set[str] = set()
        supplier_list = _insert_suppliers(conn, rng, suppliers, company_names)
        _insert_customers(conn, rng, customers, company_names)
        _insert_materials(conn, rng, materials, supplier_list)
        counts = table_counts(conn)
    logger.info("ERP seeded: %s", ", ".join(f"{t}={n}" for t, n in counts.items()))
    return counts
