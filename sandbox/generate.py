"""The world generator, the world's ground truth, and the registry files that go with a world.

``generate_world(sites=N, seed=S, …)`` builds a realistic mixed world: access providers (a group
company with provincial companies, cloud and IDC providers, overseas hosts), IP filing units and
registrars, address blocks carved from a loopback network, websites of every kind, and the
registry records (filings, IP ranges, domains, blacklist) that go with them. A world of 100 sites
or more always starts with a *catalogue*: at least one site for every footer layout, number
style, charset/declaration case, redirect kind, DNS behaviour, hostile behaviour and registry
situation; the rest are drawn with the proportions given by :class:`Mix`.

``ground_truth(world)`` says what a correct sweep over the world must raise (DESIGN.md §2), per
site, and the points each party must end up with. Nothing in crawler/, monitor/ or reports/ may
read it. The rules it applies, in order, for each site:

1. **Unknown, no finding**: the observation fails — a hostile server, a DNS failure (servfail,
   timeout, refused, nxdomain), a redirect loop, a self-redirect, a redirect to a private address
   or to ``file://``, or a redirect chain that ends in any of these.
2. **Out of jurisdiction, no finding**: every serving address is overseas (block country not CN
   and no IP filing record covers it).
3. **Not in service**: a parked or default server page raises only ``UNFILED_RESOLVED`` (when the
   domain has no valid filing and resolves into China).
4. **Redirecting domain** (3xx, meta refresh of any delay, script, chain): ``UNFILED_REDIRECT``
   against the registrar of the redirecting domain when the final site has no valid filing, plus
   ``UNFILED_RESOLVED`` when the redirecting domain itself has none. No display findings (a
   redirect page is not the site's homepage). An http→https redirect to itself is not a redirect.
5. **A website in service** (target: its first domain, or its address for an IP-only site):
   ``BLACKLISTED_SERVED`` when the domain or the filing's subject is blacklisted (independent of
   filing status); ``UNFILED_SITE`` when no filing of any status covers it,
   ``CANCELLED_STILL_SERVED`` when only cancelled ones do — one per serving provider; plus
   ``UNFILED_RESOLVED`` for a domain. With a valid filing: ``ACCESS_NOT_RECORDED`` per serving
   provider/address missing from the filing's access records; the display checks
   (``NUMBER_NOT_DISPLAYED`` when hidden, only in <noscript> or absent; else ``NUMBER_MISMATCH`` /
   ``LICENCE_MISMATCH`` for the marks shown, ``NUMBER_MISPLACED`` for top/left/middle,
   ``LINK_MISSING`` for no link, ``#`` or a look-alike host); ``CONTACT_MISSING`` (no contact details, or one of phone, e-mail and address missing);
   ``PREAPPROVAL_SUSPECTED`` for news/medicine/audiovisual/publishing/education content without
   that pre-approval on file. Numbers inside an image, written by script or in a fixed footer
   count as displayed (a real browser shows them); TLS-broken sites are judged by their HTTP page.
6. ``IP_UNREPORTED`` once per address serving anything (its default virtual host answers) in a
   Chinese block no IP filing unit reported, against the provider using the block.
"""

from __future__ import annotations

import csv
import ipaddress
import json
import math
import random
from collections import defaultdict
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from registry.numbers import PROVINCE_CODES
from registry.numbers import PROVINCES as PROVINCE_NAMES

from .spec import (DECLARES, FAILING_DNS, FAILING_REDIRECTS, HOSTILE_KINDS, LAYOUTS,
                   PARKED_TEMPLATES, PREAPPROVAL_TOPICS, STYLES, BlacklistEntry, Block,
                   DomainRecord, Filing, Provider, Redirect, Site, World, block_index, validate)

# ---------------------------------------------------------------------------------------------
# rule table (DESIGN.md §2)
# ---------------------------------------------------------------------------------------------
RULES: dict[str, tuple[str, int]] = {
    "UNFILED_SITE": ("12(2), 41", 5),
    "CANCELLED_STILL_SERVED": ("22(4)", 5),
    "BLACKLISTED_SERVED": ("12(9)", 5),
    "UNFILED_REDIRECT": ("16(5)", 5),
    "UNFILED_RESOLVED": ("16(5)", 5),
    "NUMBER_MISMATCH": ("14(4), 42", 2),
    "ACCESS_NOT_RECORDED": ("18(5), 42", 2),
    "NUMBER_NOT_DISPLAYED": ("14(3)", 0),
    "NUMBER_MISPLACED": ("14(3)", 0),
    "LINK_MISSING": ("14(3)", 0),
    "CONTACT_MISSING": ("14(3)", 0),
    "LICENCE_MISMATCH": ("21", 0),
    "PREAPPROVAL_SUSPECTED": ("20", 0),
    "IP_UNREPORTED": ("15", 0),
}
#: who answers for each rule; a finding whose party the registry cannot name (an address no IP
#: filing record covers, a domain with no domain filing record) is the analyst's to attribute
PARTY_KINDS: dict[str, str] = {
    "UNFILED_SITE": "provider", "CANCELLED_STILL_SERVED": "provider", "BLACKLISTED_SERVED": "provider",
    "UNFILED_REDIRECT": "registrar", "UNFILED_RESOLVED": "registrar", "NUMBER_MISMATCH": "provider",
    "ACCESS_NOT_RECORDED": "provider", "IP_UNREPORTED": "analyst",
}  # every other rule: the host, through the provider serving it
MISPLACED_LAYOUTS = ("top", "left", "middle")
NO_LINK_LAYOUTS = ("nolink", "link-hash", "link-evil")
NOT_DISPLAYED_LAYOUTS = ("hidden", "noscript", "none")
PREAPPROVAL_NAMES = {"news": "新闻", "medicine": "药品和医疗器械", "audiovisual": "网络视听节目",
                     "publishing": "网络出版", "education": "教育"}
FOLLOWED_REDIRECTS = ("301", "302", "307", "308", "meta", "meta-delay", "script", "chain")

# ---------------------------------------------------------------------------------------------
# the mix
# ---------------------------------------------------------------------------------------------


@dataclass
class Mix:
    """Proportions of the randomly drawn sites (the catalogue comes on top). Fractions of all."""

    unfiled: float = 0.08
    cancelled: float = 0.03
    blacklisted: float = 0.01
    mismatch: float = 0.04
    access_not_recorded: float = 0.03
    defects: float = 0.12          # display defects: misplaced, no link, not shown, no contact
    licence: float = 0.02
    preapproval: float = 0.02
    redirects: float = 0.04
    parked: float = 0.03
    ip_only: float = 0.01
    overseas: float = 0.02
    hostile: float = 0.003
    dns_failures: float = 0.01
    https: float = 0.6             # share of sites also served over HTTPS
    sites_per_address: int = 60
    unreported: float = 0.05       # share of Chinese addresses in blocks no IP unit reported

    def scenario_weights(self) -> list[tuple[str, float]]:
        named = [(k, getattr(self, k)) for k in ("unfiled", "cancelled", "blacklisted", "mismatch",
                 "access_not_recorded", "defects", "licence", "preapproval", "redirects", "parked",
                 "ip_only", "overseas", "hostile", "dns_failures")]
        rest = max(0.0, 1.0 - sum(w for _, w in named))
        return [("compliant", rest)] + named

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


# ---------------------------------------------------------------------------------------------
# vocabulary
# ---------------------------------------------------------------------------------------------
PROVINCES = [  # (number prefix, province column, domain code)
    ("京", "京", "bj"), ("沪", "沪", "sh"), ("粤", "粤", "gd"), ("浙", "浙", "zj"), ("苏", "苏", "js"),
    ("川", "川", "sc"), ("蜀", "川", "sc"), ("黔", "黔", "gz"), ("滇", "滇", "yn"), ("陇", "甘", "gs"),
    ("甘", "甘", "gs"), ("鲁", "鲁", "sd"), ("闽", "闽", "fj"), ("湘", "湘", "hn"), ("鄂", "鄂", "hb"),
    ("渝", "渝", "cq"), ("津", "津", "tj"), ("冀", "冀", "he"), ("豫", "豫", "ha"), ("陕", "陕", "sn"),
    ("辽", "辽", "ln"), ("皖", "皖", "ah"), ("赣", "赣", "jx"), ("桂", "桂", "gx"), ("琼", "琼", "hi"),
    ("晋", "晋", "sx"), ("蒙", "蒙", "nm"), ("吉", "吉", "jl"), ("黑", "黑", "hl"), ("藏", "藏", "xz"),
    ("青", "青", "qh"), ("宁", "宁", "nx"), ("新", "新", "xj"),
]
CITIES = {"京": "北京", "沪": "上海", "粤": "深圳", "浙": "杭州", "苏": "南京", "川": "成都", "黔": "贵阳",
          "滇": "昆明", "甘": "兰州", "鲁": "济南", "闽": "厦门", "湘": "长沙", "鄂": "武汉", "渝": "重庆",
          "津": "天津", "冀": "石家庄", "豫": "郑州", "陕": "西安", "辽": "沈阳", "皖": "合肥", "赣": "南昌",
          "桂": "南宁", "琼": "海口", "晋": "太原", "蒙": "呼和浩特", "吉": "长春", "黑": "哈尔滨",
          "藏": "拉萨", "青": "西宁", "宁": "银川", "新": "乌鲁木齐"}
SYLLABLES = ("hua zhong xin tian yun feng long hai shan jin bao tong da kang le mei jia an sheng "
             "rui xing guang ming chuang zhi hui shu ke ji wang yuan cheng bo tai fu hong lan qing "
             "ling yu chen hao de sen lin yi kai wei").split()
WORDS = list("华中新天云丰龙海山金宝通达康乐美佳安盛瑞星光明创智慧数科技网远成博泰富鸿蓝青灵宇辰浩德森林亿凯维")
INDUSTRIES = ["信息技术", "网络科技", "电子商务", "文化传媒", "教育咨询", "医药", "贸易", "软件", "数据服务", "餐饮管理"]
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂")
TLDS = [("cn", 30), ("com", 28), ("com.cn", 14), ("net", 7), ("org.cn", 3), ("bj.cn", 2),
        ("sh.cn", 1), ("xn--fiqs8s", 2), ("top", 4), ("xyz", 3), ("net.cn", 3), ("gd.cn", 1)]
IDN_LABELS = ["例子", "中文网", "华夏商城", "测试站", "云端", "老字号"]
STREETS = ["人民路", "中山路", "解放大道", "科技园路", "建设路", "长安街", "滨江大道", "高新大道"]

# providers: (code, name, province, kind, parent, licence) and their blocks' countries
PROVIDER_PLAN = [
    ("CTG", "中国天河通信集团有限公司", "京", "access", None, "A1.B1-20090001"),
    ("CTG-GD", "中国天河通信集团广东有限公司", "粤", "access", "CTG", "A2.B1-20090002"),
    ("CTG-SC", "中国天河通信集团四川有限公司", "川", "access", "CTG", "A2.B1-20090003"),
    ("CTG-GZ", "中国天河通信集团贵州有限公司", "黔", "access", "CTG", "A2.B1-20090004"),
    ("CTG-YN", "中国天河通信集团云南有限公司", "滇", "access", "CTG", "A2.B1-20090005"),
    ("YUNFAN", "杭州云帆计算有限公司", "浙", "access", None, "B1.B2-20150011"),
    ("HUAXUN", "上海华讯数据服务有限公司", "沪", "access", None, "B1.B2-20120021"),
    ("XIBU", "成都西部数码港科技有限公司", "川", "access", None, "B1.B2-20110031"),
    ("LONGYUAN", "甘肃陇原云计算有限公司", "甘", "access", None, "B1.B2-20180041"),
    ("XINGHE", "深圳星河IDC有限公司", "粤", "access", None, "B1.B2-20160051"),
    ("IPU-CTG", "中国天河通信集团IP地址备案单位", "京", "ip_unit", None, None),
    ("IPU-APNIC-CN", "国内IP地址分配联盟", "京", "ip_unit", None, None),
    ("REG-WANWEI", "北京万维域名注册服务有限公司", "京", "registrar", None, None),
    ("REG-XINWANG", "新网域名服务有限公司", "京", "registrar", None, None),
    ("REG-ZHONGWANG", "厦门中网域名注册有限公司", "闽", "registrar", None, None),
    ("REG-YUNDUAN", "杭州云端域名有限公司", "浙", "registrar", None, None),
    ("OVS-HK", "Harbour Hosting Ltd", "港", "overseas", None, None),
    ("OVS-US", "Pacific Cloud Inc.", "美", "overseas", None, None),
]
ACCESS = ["CTG-GD", "CTG-SC", "CTG-GZ", "CTG-YN", "YUNFAN", "HUAXUN", "XIBU", "LONGYUAN", "XINGHE", "CTG"]
ACCESS_WEIGHTS = [14, 8, 4, 4, 22, 14, 8, 4, 12, 10]
REGISTRARS = ["REG-WANWEI", "REG-XINWANG", "REG-ZHONGWANG", "REG-YUNDUAN"]
# (block label, provider, unit, country, asn)
BLOCK_PLAN = [
    ("CTG-GD", "CTG-GD", "IPU-CTG", "CN", 64601), ("CTG-SC", "CTG-SC", "IPU-CTG", "CN", 64602),
    ("CTG-GZ", "CTG-GZ", "IPU-CTG", "CN", 64603), ("CTG-YN", "CTG-YN", "IPU-CTG", "CN", 64604),
    ("CTG", "CTG", "IPU-CTG", "CN", 64600), ("YUNFAN", "YUNFAN", "IPU-APNIC-CN", "CN", 64611),
    ("HUAXUN", "HUAXUN", "IPU-APNIC-CN", "CN", 64612), ("XIBU", "XIBU", "IPU-APNIC-CN", "CN", 64613),
    ("LONGYUAN", "LONGYUAN", "IPU-APNIC-CN", "CN", 64614), ("XINGHE", "XINGHE", "IPU-APNIC-CN", "CN", 64615),
    ("YUNFAN-NEW", "YUNFAN", None, "CN", 64611), ("XINGHE-NEW", "XINGHE", None, "CN", 64615),
    ("OVS-HK", "OVS-HK", None, "HK", 64621), ("OVS-US", "OVS-US", None, "US", 64622),
]
PROVINCE_OF = {p[0]: p[2] for p in PROVIDER_PLAN}
DEFAULT_NETWORK = "127.16.0.0/12"


# ---------------------------------------------------------------------------------------------
# the generator
# ---------------------------------------------------------------------------------------------
class _Gen:
    def __init__(self, seed: int, mix: Mix, network: str) -> None:
        self.rng = random.Random(seed)
        self.mix = mix
        self.world = World(name=f"world-{seed}", seed=seed)
        self.used_domains: set[str] = set()
        self.subject_seq = 0
        self.site_seq = 0
        self.addr_state: dict[str, list[Any]] = {}
        self.filing_by_domain: dict[str, Filing] = {}
        self.filing_by_ip: dict[str, Filing] = {}
        self.certificates: dict[str, str] = {}
        self.in_catalogue = False
        self._index: Any = None
        self._setup(network)

    # ---- providers and blocks ----------------------------------------------------------------
    def _setup(self, network: str) -> None:
        net = ipaddress.ip_network(network, strict=False)
        extra = max(1, math.ceil(math.log2(len(BLOCK_PLAN))))
        if net.prefixlen + extra > 28:
            raise ValueError(f"network {network} is too small for {len(BLOCK_PLAN)} provider blocks")
        subnets = net.subnets(prefixlen_diff=extra)
        for code, name, prov, kind, parent, lic in PROVIDER_PLAN:
            self.world.providers.append(Provider(code, name, prov, kind, parent, lic))
        for (label, provider, unit, country, asn), sub in zip(BLOCK_PLAN, subnets):
            day = 1 + (asn % 27)
            self.world.blocks.append(Block(
                cidr=str(sub), provider=provider, unit=unit, asn=asn, name=f"{label}-NET",
                country=country, reported_on=f"2023-{1 + asn % 12:02d}-{day:02d}" if unit else None,
                description=PROVINCE_OF.get(provider, "")))
            # next free host, per block
            self.addr_state[label] = [sub, 10, None, 0]   # net, next host index, current ip, sites on it

    def _address(self, label: str, fresh: bool = False) -> str:
        st = self.addr_state[label]
        net, nxt, cur, count = st
        if fresh or cur is None or count >= self.mix.sites_per_address:
            if nxt >= net.num_addresses - 1:
                nxt = 10  # wrap: more sites on the same addresses
            cur = str(net.network_address + nxt)
            if cur.endswith(".0") or cur.endswith(".255"):
                nxt += 1
                cur = str(net.network_address + nxt)
            st[1], st[2], st[3] = nxt + 1, cur, 0
        st[3] += 1
        return st[2]

    def _access_label(self, provider: str) -> str:
        unreported = {"YUNFAN": "YUNFAN-NEW", "XINGHE": "XINGHE-NEW"}.get(provider)
        if unreported and self.rng.random() < self.mix.unreported * 3:
            return unreported
        return provider

    # ---- names ---------------------------------------------------------------------------------
    def _domain(self, idn: bool | None = None) -> str:
        rng = self.rng
        tlds, weights = zip(*TLDS)
        for attempt in range(100):
            tld = rng.choices(tlds, weights)[0]
            if idn or (idn is None and rng.random() < 0.02):
                import idna
                label = idna.encode(rng.choice(IDN_LABELS) + rng.choice(WORDS) + (str(attempt) if attempt else "")).decode()
                tld = rng.choice(["cn", "xn--fiqs8s"])
            else:
                label = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3))))
                if rng.random() < 0.15 or attempt > 3:
                    label += str(rng.randint(1, 999))
            name = f"{label}.{tld}"
            if name not in self.used_domains:
                self.used_domains.add(name)
                return name
        raise RuntimeError("could not find a free domain name")

    def _company(self, prov: str) -> str:
        rng = self.rng
        return f"{CITIES.get(prov, '北京')}{rng.choice(WORDS)}{rng.choice(WORDS)}{rng.choice(INDUSTRIES)}有限公司"

    def _person(self) -> str:
        return self.rng.choice(SURNAMES) + self.rng.choice(GIVEN) + (self.rng.choice(GIVEN) if self.rng.random() < 0.5 else "")

    def _contact(self, prov: str, domain: str) -> dict[str, str]:
        rng = self.rng
        return {"phone": f"0{rng.randint(10, 999)}-{rng.randint(2000000, 89999999)}",
                "email": f"service@{domain}",
                "address": f"{CITIES.get(prov, '北京')}市{rng.choice(STREETS)}{rng.randint(1, 999)}号"}

    # ---- filings -----------------------------------------------------------------------------
    def _subject_number(self, prefix: str) -> str:
        self.subject_seq += 1
        year = 2010 + (self.subject_seq * 7) % 15
        if self.rng.random() < 0.2:
            return f"{prefix}ICP备{(5000000 + self.subject_seq * 37) % 100000000:08d}号"
        return f"{prefix}ICP备{year}{self.subject_seq % 1000000:06d}号"

    def _filing(self, domain: str, ip: str | None, providers: list[str], *, status: str = "filed",
                prefix: str | None = None, subject: tuple[str, str, str, str] | None = None,
                seq: int = 1, licence: str | None = None, preapprovals: list[str] | None = None,
                name: str | None = None) -> Filing:
        rng = self.rng
        if subject is None:
            prefix = prefix or rng.choice(PROVINCES)[0]
            prov = next(p[1] for p in PROVINCES if p[0] == prefix)
            person = rng.random() < 0.25
            sname = self._person() if person else self._company(prov)
            subject = (self._subject_number(prefix), sname, "个人" if person else "单位", prov)
        number, sname, stype, prov = subject
        cert = self.certificates.get(number)
        if cert is None:
            cert = (f"{rng.randint(110000, 659999)}{rng.randint(1960, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
                    f"{rng.randint(100, 999)}{rng.choice('0123456789X')}" if stype == "个人"
                    else f"91{rng.randint(110000, 659999)}MA{rng.randint(10000000, 99999999)}")
            self.certificates[number] = cert
        f = Filing(website_number=f"{number}-{seq}", subject_name=sname, subject_type=stype,
                   subject_province=prov, website_name=name or f"{sname[:6]}官网",
                   domains=[domain] if domain else [], ips=[ip] if ip else [], providers=providers,
                   status=status, licence_number=licence, preapprovals=preapprovals or [],
                   subject_certificate=cert, contact_name=self._person(),
                   contact_phone=f"1{rng.choice('3589')}{rng.randint(100000000, 999999999)}",
                   contact_id=f"{rng.randint(110000, 659999)}{rng.randint(1960, 2004)}0101{rng.randint(1000, 9999)}")
        self.world.filings.append(f)
        if domain:
            self.filing_by_domain[domain] = f
        return f

    def _register(self, domain: str) -> None:
        rng = self.rng
        self.world.domains.append(DomainRecord(domain, rng.choice(REGISTRARS),
                                               f"20{rng.randint(15, 24)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"))

    # ---- sites -------------------------------------------------------------------------------
    def _site(self, *, provider: str | None = None, label: str | None = None, domain: str | None = "new",
              ip_only: bool = False, template: str | None = None, **kw: Any) -> tuple[Site, str, str]:
        rng = self.rng
        self.site_seq += 1
        provider = provider or rng.choices(ACCESS, ACCESS_WEIGHTS)[0]
        label = label or self._access_label(provider)
        ip = self._address(label, fresh=ip_only)
        if ip_only:
            domains: list[str] = []
            reg = ""
        else:
            reg = self._domain() if domain == "new" else domain
            domains = [f"www.{reg}", reg] if rng.random() < 0.6 else [reg, f"www.{reg}"]
            self._register(reg)
        prov = PROVINCE_OF.get(provider, "京")
        params = {"name": f"{rng.choice(WORDS)}{rng.choice(WORDS)}{rng.choice(['网', '商城', '在线', '科技', '资讯', '之家'])}",
                  "layout": "bottom-centre", "style": self._style(), "contact": self._contact(prov, reg or ip),
                  "topic": "general"}
        charset = rng.choices(["utf-8", "gbk", "gb18030"], [80, 15, 5])[0]
        declare = rng.choices(DECLARES, [20, 25, 45, 6, 1, 1, 2])[0]
        site = Site(id=f"s{self.site_seq:07d}", domains=domains, ips=[ip],
                    template=template or ("ip-site" if ip_only else rng.choice(["company", "shop", "blog", "portal"])),
                    params=params, charset=charset, declare=declare,
                    https=rng.random() < self.mix.https)
        if site.https and not self.in_catalogue and rng.random() < 0.3:
            site.redirect = Redirect("https")
        for k, v in kw.items():
            if k in ("layout", "style", "contact", "topic", "psb", "marks"):
                site.params[k] = v
            else:
                setattr(site, k, v)
        self.world.sites.append(site)
        return site, reg, ip

    def _style(self) -> str:
        if self.rng.random() < 0.7:
            return "plain"
        return self.rng.choice(STYLES[1:])

    def _psb(self, prov: str = "京") -> str:
        # A real public-security number starts with its province's two-digit area code.
        return f"{prov}公网安备{PROVINCE_CODES[PROVINCE_NAMES[prov]]}{self.rng.randint(0, 10**12 - 1):012d}号"

    # scenario builders -------------------------------------------------------------------------
    def filed(self, **kw: Any) -> Site:
        licence = kw.pop("licence", None)
        pre = kw.pop("preapprovals", None)
        access = kw.pop("access", None)
        prefix = kw.pop("prefix", None)
        site, reg, ip = self._site(**kw)
        provider = self._provider_of(ip)
        f = self._filing(reg, None if not site.domains else ip, access or [provider], licence=licence,
                         preapprovals=pre, name=site.params["name"], prefix=prefix)
        if not site.domains:
            f.ips = [ip]
            self.filing_by_ip[ip] = f
        site.params["subject"] = f.subject_name
        if "marks" not in kw:
            site.params["marks"] = [licence] if licence else [f.website_number]
        if self.rng.random() < 0.25 and "psb" not in kw:
            site.params["psb"] = self._psb()
        return site

    def _provider_of(self, ip: str) -> str:
        if self._index is None:
            self._index = block_index(self.world.blocks)
        block = self._index.find(ip)
        if block is None:
            raise KeyError(ip)
        return block.provider

    def unfiled(self, **kw: Any) -> Site:
        site, reg, ip = self._site(**kw)
        site.params["subject"] = self._company(self.rng.choice(PROVINCES)[1])
        if "marks" not in kw:
            site.params["marks"] = [] if self.rng.random() < 0.6 else [self._fake_number()]
        return site

    def _fake_number(self) -> str:
        return f"{self.rng.choice(PROVINCES)[0]}ICP备{self.rng.randint(2015, 2024)}{self.rng.randint(0, 999999):06d}号-1"

    def cancelled(self, **kw: Any) -> Site:
        site = self.filed(**kw)
        self.filing_by_domain_or_ip(site).status = "cancelled"
        return site

    def filing_by_domain_or_ip(self, site: Site) -> Filing:
        if site.domains:
            return self.filing_by_domain[_registrable_guess(site.domains[0])]
        return self.filing_by_ip[site.ips[0]]

    def blacklisted(self, kind: str | None = None) -> Site:
        kind = kind or self.rng.choice(["domain", "subject"])
        if kind == "domain":
            site = self.unfiled()
            self.world.blacklist.append(BlacklistEntry("domain", _registrable_guess(site.domains[0]), "传播违法信息，已注销备案"))
        else:
            site = self.filed()
            f = self.filing_by_domain_or_ip(site)
            self.world.blacklist.append(BlacklistEntry("subject", f.subject_name, "提供虚假备案信息"))
        return site

    def mismatch(self, kind: str | None = None, **kw: Any) -> Site:
        kind = kind or self.rng.choice(["other-subject", "other-site", "unknown", "app", "placeholder", "placeholder-gui"])
        site = self.filed(**kw)
        f = self.filing_by_domain_or_ip(site)
        subject_number = f.website_number.rsplit("-", 1)[0]
        if kind == "other-subject":
            shown = self._fake_number()
            for _ in range(20):
                g = self.world.filings[self.rng.randrange(len(self.world.filings))]
                if g.subject_name != f.subject_name and g.status == "filed":
                    shown = g.website_number
                    break
        elif kind == "other-site":
            # the same subject's second website
            other, reg, ip = self._site(provider=self._provider_of(site.ips[0]))
            g = self._filing(reg, ip, [self._provider_of(ip)], subject=(subject_number, f.subject_name, f.subject_type, f.subject_province), seq=2)
            other.params["subject"], other.params["marks"] = g.subject_name, [g.website_number]
            shown = g.website_number
        elif kind == "unknown":
            shown = self._fake_number()
        elif kind == "app":
            shown = f"{subject_number}-2A"
        elif kind == "placeholder":
            shown = self.rng.choice(["京ICP备12345678号", "粤ICP备00000000号-1", "京ICP备XXXXXXXX号"])
        else:
            shown = "贵ICP备12345678号"
        site.params["marks"] = [shown]
        return site

    def licence_case(self, kind: str | None = None) -> Site:
        kind = kind or self.rng.choice(["ok", "shows-filing", "unheld", "wrong"])
        # Licence numbers are a two-digit year and four digits; placeholders such as 123456 never occur.
        lic = f"{self.rng.choice(['京', '粤', '沪', '浙'])}ICP证{self.rng.randint(0, 25):02d}{self.rng.randint(1, 9999):04d}号"
        if kind == "ok":
            return self.filed(licence=lic)
        if kind == "shows-filing":
            site = self.filed(licence=lic)
            site.params["marks"] = [self.filing_by_domain_or_ip(site).website_number]
            return site
        if kind == "unheld":
            site = self.filed()
            site.params["marks"] = [lic] + site.params["marks"]
            return site
        site = self.filed(licence=lic)
        site.params["marks"] = [lic.replace("ICP证", "ICP证9")]
        return site

    def redirect(self, kind: str | None = None, to_unfiled: bool | None = None) -> Site:
        rng = self.rng
        kind = kind or rng.choice(["301", "302", "307", "308", "meta", "meta-delay", "script", "chain"])
        to_unfiled = rng.random() < 0.5 if to_unfiled is None else to_unfiled
        target = self.unfiled() if to_unfiled else self.filed()
        if kind == "chain":
            middle = self.filed(template="redirect", https=False)
            middle.redirect = Redirect("302", _url(target))
            first_target = middle
        else:
            first_target = target
        site = self.filed(template="redirect")
        site.redirect = Redirect(kind, _url(first_target), delay=30 if kind == "meta-delay" else 0)
        site.params["marks"] = []
        return site

    def failing_redirect(self, kind: str) -> Site:
        site = self.filed(template="redirect")
        if kind == "loop":
            other = self.filed(template="redirect")
            site.redirect = Redirect("loop", _url(other))
            other.redirect = Redirect("loop", _url(site))
        elif kind == "self":
            site.redirect = Redirect("self", _url(site))
        elif kind == "private":
            site.redirect = Redirect("private")
        else:
            site.redirect = Redirect("file", "file:///etc/passwd")
        return site

    def parked(self, template: str | None = None) -> Site:
        template = template or self.rng.choice(PARKED_TEMPLATES)
        site = self.unfiled(template=template) if self.rng.random() < 0.8 else self.filed(template=template)
        site.params["marks"] = []
        site.redirect = None
        return site

    def ip_only(self, filed: bool | None = None) -> Site:
        filed = self.rng.random() < 0.3 if filed is None else filed
        if filed:
            return self.filed(ip_only=True, domain=None)
        return self.unfiled(ip_only=True, domain=None)

    def overseas(self) -> Site:
        label = self.rng.choice(["OVS-HK", "OVS-US"])
        return self.unfiled(provider=label, label=label)

    def hostile(self, kind: str | None = None) -> Site:
        site = self.unfiled() if self.rng.random() < 0.5 else self.filed()
        site.hostile = kind or self.rng.choice(HOSTILE_KINDS)
        site.redirect = None
        return site

    def dns_failure(self, kind: str | None = None) -> Site:
        site = self.unfiled() if self.rng.random() < 0.5 else self.filed()
        site.dns = kind or self.rng.choice(FAILING_DNS)
        return site

    def defect(self, kind: str | None = None) -> Site:
        kind = kind or self.rng.choice(["top", "left", "middle", "nolink", "link-hash", "link-evil",
                                        "hidden", "noscript", "none", "no-contact", "psb-only"])
        if kind == "no-contact":
            return self.filed(contact=None)
        if kind == "partial-contact":  # art. 14(3) asks for phone or fax, e-mail and address
            site = self.filed()
            contact = dict(site.params["contact"])
            del contact[self.rng.choice(sorted(contact))]
            site.params["contact"] = contact
            return site
        if kind == "psb-only":
            return self.filed(layout="none", psb=self._psb())
        return self.filed(layout=kind)

    def access_not_recorded(self) -> Site:
        site = self.filed()
        serving = self._provider_of(site.ips[0])
        other = self.rng.choice([p for p in ACCESS if p != serving])
        f = self.filing_by_domain_or_ip(site)
        f.providers = [other]
        f.ips = []
        return site

    def preapproval(self, topic: str | None = None, approved: bool | None = None) -> Site:
        topic = topic or self.rng.choice(PREAPPROVAL_TOPICS)
        approved = self.rng.random() < 0.4 if approved is None else approved
        return self.filed(topic=topic, preapprovals=[PREAPPROVAL_NAMES[topic]] if approved else None)

    def compliant(self) -> Site:
        site = self.filed()
        r = self.rng.random()
        if r < 0.05:
            site.params["layout"] = self.rng.choice(["fixed", "link-below", "link-digits", "link-legacy", "script", "image-alt"])
        elif r < 0.07:  # multi-access: a second provider's address, recorded in the filing
            other = self.rng.choice([p for p in ACCESS if p != self._provider_of(site.ips[0])])
            ip2 = self._address(self._access_label(other))
            if self._provider_of(ip2) == other:
                site.ips.append(ip2)
                f = self.filing_by_domain_or_ip(site)
                f.providers.append(other)
                f.ips.append(ip2)
        if self.rng.random() < 0.03:
            site.dns = "cname"
        return site

    # ---- the catalogue -------------------------------------------------------------------------
    def catalogue(self) -> None:
        self.in_catalogue = True
        try:
            self._catalogue()
        finally:
            self.in_catalogue = False

    def _catalogue(self) -> None:
        for layout in LAYOUTS:
            self.filed(layout=layout)
        for style in STYLES:
            self.filed(style=style)
        for charset in ("utf-8", "gbk", "gb18030"):
            for declare in DECLARES:
                self.filed(charset=charset, declare=declare)
        for kind in FOLLOWED_REDIRECTS:
            self.redirect(kind, to_unfiled=True)
        for kind in ("301", "meta", "script"):
            self.redirect(kind, to_unfiled=False)
        for kind in FAILING_REDIRECTS:
            self.failing_redirect(kind)
        s = self.filed(https=True)
        s.redirect = Redirect("https")
        for kind in HOSTILE_KINDS:
            self.hostile(kind)
        for kind in ("cname", "truncate"):
            self.filed(dns=kind)
        for kind in FAILING_DNS:
            self.dns_failure(kind)
        for kind in ("other-subject", "other-site", "unknown", "app", "placeholder", "placeholder-gui"):
            self.mismatch(kind)
        for kind in ("ok", "shows-filing", "unheld", "wrong"):
            self.licence_case(kind)
        self.preapproval("news", approved=False)
        self.preapproval("medicine", approved=True)
        self.preapproval("audiovisual", approved=False)
        self.access_not_recorded()
        self.unfiled()
        self.unfiled(marks=[self._fake_number()])
        self.cancelled()
        self.blacklisted("domain")
        self.blacklisted("subject")
        for t in PARKED_TEMPLATES:
            self.parked(t)
        self.ip_only(filed=False)
        self.ip_only(filed=True)
        self.overseas()
        self.unfiled(label="YUNFAN-NEW", provider="YUNFAN")
        self.filed(label="XINGHE-NEW", provider="XINGHE")
        self.defect("no-contact")
        self.defect("partial-contact")
        self.defect("psb-only")
        self.filed(psb=self._psb())
        self.filed(https=True, tls="expired")
        self.filed(https=True, tls="wrong-host")
        self.filed(domain=self._domain(idn=True))
        for prefix in ("黔", "滇", "蜀", "陇"):
            self.filed(prefix=prefix)

    def random_site(self) -> None:
        scenario = self.rng.choices(*zip(*self.mix.scenario_weights()))[0]
        {"compliant": self.compliant, "unfiled": self.unfiled, "cancelled": self.cancelled,
         "blacklisted": self.blacklisted, "mismatch": self.mismatch,
         "access_not_recorded": self.access_not_recorded, "defects": self.defect,
         "licence": self.licence_case, "preapproval": self.preapproval, "redirects": self.redirect,
         "parked": self.parked, "ip_only": self.ip_only, "overseas": self.overseas,
         "hostile": self.hostile, "dns_failures": self.dns_failure}[scenario]()


def _registrable_guess(host: str) -> str:
    """The independent domain of a generated host (generated hosts are X or www.X)."""
    return host[4:] if host.startswith("www.") else host


def _url(site: Site) -> str:
    scheme = "https" if site.https and site.redirect is not None and site.redirect.kind == "https" else "http"
    return f"{scheme}://{site.host}/"


DEFAULT_SITES = 300


def generate_world(sites: int | None = None, seed: int = 1, mix: Mix | None = None,
                   network: str = DEFAULT_NETWORK, name: str | None = None) -> World:
    """A world of about ``sites`` websites (exactly, give or take the extra sites a scenario needs)."""
    n = DEFAULT_SITES if sites is None else sites
    if n < 1:
        raise ValueError("a world needs at least one site")
    gen = _Gen(seed, mix or Mix(), network)
    if n >= 100:
        gen.catalogue()
    while len(gen.world.sites) < n:
        gen.random_site()
    world = gen.world
    # sites beyond n can come from multi-site scenarios; trim only trailing single sites safely
    world.name = name or f"world-{n}-{seed}"
    world.listen = {"dns": "127.0.0.1:5353", "http_port": 80, "https_port": 443}
    validate(world)
    return world


# ---------------------------------------------------------------------------------------------
# ground truth
# ---------------------------------------------------------------------------------------------
class _Truth:
    def __init__(self, world: World) -> None:
        self.world = world
        self.blocks = block_index(world.blocks)
        self.by_host = {d: s for s in world.sites for d in s.domains}
        self.by_ip_only = {s.ips[0]: s for s in world.sites if not s.domains}
        self.filings_by_domain: dict[str, list[Filing]] = defaultdict(list)
        self.filings_by_ip: dict[str, list[Filing]] = defaultdict(list)
        for f in world.filings:
            for d in f.domains:
                self.filings_by_domain[d].append(f)
            if not f.domains:
                for ip in f.ips:
                    self.filings_by_ip[ip].append(f)
        self.registrar = {d.domain: d.registrar for d in world.domains}
        self.black_domains = {b.value for b in world.blacklist if b.kind == "domain"}
        self.black_subjects = {b.value for b in world.blacklist if b.kind == "subject"}
        self._psl = None

    def registrable(self, host: str) -> str:
        if self._psl is None:
            try:
                from publicsuffixlist import PublicSuffixList
                self._psl = PublicSuffixList(only_icann=True)
            except ImportError:  # pragma: no cover
                self._psl = False
        if self._psl:
            return self._psl.privatesuffix(host) or host
        return _registrable_guess(host)

    def in_cn(self, ip: str) -> bool:
        b = self.blocks.find(ip)
        return b is not None and (b.country == "CN" or b.unit is not None)

    def provider(self, ip: str) -> str:
        b = self.blocks.find(ip)
        return b.provider if b else ""

    def party_kind(self, code: str, party: str, ip: str) -> str:
        kind = PARTY_KINDS.get(code, "host")
        if kind == "registrar":
            return kind if party else "analyst"
        b = self.blocks.find(ip)
        return kind if b is not None and b.unit is not None else "analyst"

    def failed(self, site: Site) -> bool:
        if site.hostile or site.dns in FAILING_DNS:
            return True
        return self.final(site) is None

    def final(self, site: Site) -> Site | None:
        seen = {site.id}
        cur = site
        while cur.redirect is not None and cur.redirect.kind != "https":
            r = cur.redirect
            if r.kind in FAILING_REDIRECTS:
                return None
            host = urlsplit(r.target or "").hostname or ""
            nxt = self.by_host.get(host) or self.by_ip_only.get(host)
            if nxt is None or nxt.id in seen or nxt.hostile or nxt.dns in FAILING_DNS:
                return None
            seen.add(nxt.id)
            cur = nxt
        return cur

    def filings(self, site: Site) -> list[Filing]:
        if site.domains:
            return self.filings_by_domain.get(self.registrable(site.domains[0]), [])
        return self.filings_by_ip.get(site.ips[0], [])

    def valid(self, site: Site) -> Filing | None:
        return next((f for f in self.filings(site) if f.status == "filed"), None)

    def findings(self, site: Site) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        domain = site.domains[0] if site.domains else None
        ip0 = site.ips[0]

        def add(code: str, party: str, ip: str = ip0) -> None:
            article, points = RULES[code]
            out.append({"site": site.id, "code": code, "domain": domain, "ip": ip, "party": party,
                        "party_kind": self.party_kind(code, party, ip), "article": article, "points": points})

        if self.failed(site):
            return out
        cn_ips = [ip for ip in site.ips if self.in_cn(ip)]
        if not cn_ips:
            return out
        valid = self.valid(site)
        reg_domain = self.registrable(domain) if domain else None
        registrar = self.registrar.get(reg_domain or "", "")
        unfiled_resolved = domain is not None and valid is None
        if site.template in PARKED_TEMPLATES:
            if unfiled_resolved:
                add("UNFILED_RESOLVED", registrar)
            return out
        if site.redirect is not None and site.redirect.kind in FOLLOWED_REDIRECTS:
            final = self.final(site)
            if final is not None and self.valid(final) is None:
                add("UNFILED_REDIRECT", registrar)
            if unfiled_resolved:
                add("UNFILED_RESOLVED", registrar)
            return out
        filings = self.filings(site)
        subjects = {f.subject_name for f in filings}
        if (reg_domain and reg_domain in self.black_domains) or subjects & self.black_subjects:
            for ip in cn_ips:
                add("BLACKLISTED_SERVED", self.provider(ip), ip)
        if not filings:
            for ip in cn_ips:
                add("UNFILED_SITE", self.provider(ip), ip)
        elif valid is None:
            for ip in cn_ips:
                add("CANCELLED_STILL_SERVED", self.provider(ip), ip)
        if unfiled_resolved:
            add("UNFILED_RESOLVED", registrar)
        if valid is None:
            return out
        for ip in cn_ips:
            if self.provider(ip) not in valid.providers or (valid.ips and ip not in valid.ips):
                add("ACCESS_NOT_RECORDED", self.provider(ip), ip)
        host = self.provider(ip0)
        p = site.params
        layout = p.get("layout", "bottom-centre")
        marks = list(p.get("marks") or [])
        numbers = [m for m in marks if "ICP证" not in m]
        licences = [m for m in marks if "ICP证" in m]
        if layout in NOT_DISPLAYED_LAYOUTS or not marks:
            add("NUMBER_NOT_DISPLAYED", host)
        else:
            if valid.licence_number:
                if numbers or any(lic != valid.licence_number for lic in licences):
                    add("LICENCE_MISMATCH", host)
            else:
                if licences:
                    add("LICENCE_MISMATCH", host)
                if any(n != valid.website_number for n in numbers):
                    add("NUMBER_MISMATCH", host)
                elif not numbers:
                    add("NUMBER_NOT_DISPLAYED", host)
            if layout in MISPLACED_LAYOUTS:
                add("NUMBER_MISPLACED", host)
            if layout in NO_LINK_LAYOUTS:
                add("LINK_MISSING", host)
        contact = p.get("contact") or {}
        if not all(contact.get(part) for part in ("phone", "email", "address")):
            add("CONTACT_MISSING", host)
        topic = p.get("topic", "general")
        if topic in PREAPPROVAL_TOPICS and PREAPPROVAL_NAMES[topic] not in valid.preapprovals:
            add("PREAPPROVAL_SUSPECTED", host)
        return out


def ground_truth(world: World) -> dict[str, Any]:
    """Every finding a correct sweep over ``world`` must raise, and each party's points."""
    t = _Truth(world)
    findings: list[dict[str, Any]] = []
    unknown: list[str] = []
    for site in world.sites:
        if t.failed(site):
            unknown.append(site.id)
        findings.extend(t.findings(site))
    # IP_UNREPORTED: every serving address (its default vhost answers) in an unreported CN block
    for ip in world.addresses():
        b = t.blocks.find(ip)
        if b is not None and b.unit is None and b.country == "CN":
            article, points = RULES["IP_UNREPORTED"]
            findings.append({"site": None, "code": "IP_UNREPORTED", "domain": None, "ip": ip,
                             "party": b.provider, "party_kind": "analyst", "article": article,
                             "points": points})
    points = {p.code: 0 for p in world.providers if p.kind != "overseas"}
    for f in findings:
        points[f["party"]] = points.get(f["party"], 0) + f["points"]
    per_site: dict[str, list[str]] = {}
    for f in findings:
        if f["site"]:
            per_site.setdefault(f["site"], []).append(f["code"])
    counts: dict[str, int] = {}
    for f in findings:
        counts[f["code"]] = counts.get(f["code"], 0) + 1
    return {"world": world.name, "seed": world.seed, "sites": len(world.sites),
            "rules": "sandbox.generate module docstring", "counts": dict(sorted(counts.items())),
            "points": points, "unknown": unknown, "findings": findings, "by_site": per_site}


def write_truth(world: World, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ground_truth(world), ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def targets(world: World) -> list[str]:
    """What a sweep over the world is given: every site's target, then the Chinese blocks."""
    out = [s.host for s in world.sites]
    out += [b.cidr for b in world.blocks if b.country == "CN" or b.unit]
    return out


# ---------------------------------------------------------------------------------------------
# registry import files (DESIGN.md §4 columns)
# ---------------------------------------------------------------------------------------------
REGISTRY_COLUMNS = {
    "providers": ["code", "name", "province", "parent_code", "licence_number", "kind"],
    "filings": ["website_number", "subject_name", "subject_type", "subject_province", "website_name",
                "domains", "ips", "providers", "status", "licence_number", "preapprovals",
                "subject_certificate", "contact_name", "contact_phone", "contact_id"],
    "ip-ranges": ["cidr", "unit", "user", "province", "reported_on"],
    "domains": ["domain", "registrar", "reported_on"],
    "blacklist": ["kind", "value", "reason"],
}


def registry_rows(world: World) -> dict[str, list[list[str]]]:
    def s(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, list):
            return ";".join(v)
        return str(v)

    rows: dict[str, list[list[str]]] = {k: [] for k in REGISTRY_COLUMNS}
    for p in world.providers:
        if p.kind == "overseas":
            continue  # not an assessment object; its blocks have no IP filing record
        rows["providers"].append([s(getattr(p, c)) for c in REGISTRY_COLUMNS["providers"]])
    for f in world.filings:
        rows["filings"].append([s(getattr(f, c)) for c in REGISTRY_COLUMNS["filings"]])
    for b in world.blocks:
        if b.unit is None:
            continue  # nobody reported it
        rows["ip-ranges"].append([b.cidr, b.unit, b.provider, b.description, s(b.reported_on)])
    seen = set()
    for d in world.domains:
        if d.domain not in seen:
            seen.add(d.domain)
            rows["domains"].append([d.domain, d.registrar, s(d.reported_on)])
    for b in world.blacklist:
        rows["blacklist"].append([b.kind, b.value, b.reason])
    return rows


def write_registry(world: World, directory: str | Path) -> dict[str, Any]:
    """Write providers.csv, filings.csv, ip-ranges.csv, domains.csv, blacklist.csv (UTF-8, header)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"directory": str(directory), "files": {}}
    for kind, rows in registry_rows(world).items():
        path = directory / f"{kind}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(REGISTRY_COLUMNS[kind])
            w.writerows(rows)
        summary["files"][kind] = {"path": str(path), "rows": len(rows)}
    return summary
