package org.pola.opensearch;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.logging.log4j.LogManager;
import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.join.ParentJoinPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * One single-node OpenSearch in this JVM, for tests and `make run`: the server and the modules a
 * distribution ships (netty4 transport and HTTP, painless, analysis-common, mapper-extras, reindex,
 * parent-join) as classpath plugins, the way embedded cluster runners start one.
 *
 * <pre>java -cp 'lib/*' org.pola.opensearch.LocalNode HOME HTTP_PORT</pre>
 *
 * HOME holds data/ and logs/ (and may hold config/opensearch.yml with extra settings); the node
 * listens on 127.0.0.1 only: HTTP on HTTP_PORT, transport on the first free port from
 * HTTP_PORT+10000. No security plugin. Runs until SIGTERM or SIGINT, which close the node cleanly.
 */
public final class LocalNode {
    private static final Collection<Class<? extends Plugin>> MODULES = List.of(
        Netty4Plugin.class,
        PainlessPlugin.class,
        CommonAnalysisPlugin.class,
        MapperExtrasPlugin.class,
        ReindexPlugin.class,
        ParentJoinPlugin.class
    );

    /** Node's constructor with classpath plugins is protected: embedders subclass it. */
    private static final class ClasspathNode extends Node {
        ClasspathNode(Environment environment) {
            super(environment, MODULES, true);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: LocalNode HOME HTTP_PORT");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath().normalize();
        int httpPort = Integer.parseInt(args[1]);
        String name = home.getFileName().toString();
        // PluginsService lists these folders; they stay empty (the modules come from the classpath).
        Files.createDirectories(home.resolve("modules"));
        Files.createDirectories(home.resolve("plugins"));

        Settings settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", name)
            .put("node.name", name)
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.port", (httpPort + 10000) + "-" + (httpPort + 10099))
            // These disks run 80% full: the default watermarks would make every index read-only.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .build();
        // Also reads HOME/config/opensearch.yml when there is one.
        Environment environment = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), null, () -> name);

        Node node;
        try {
            node = new ClasspathNode(environment);
        } catch (Throwable t) { // a bad setting, a locked data folder: say why and go
            t.printStackTrace();
            System.exit(1);
            return;
        }
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                if (!node.awaitClose(20, TimeUnit.SECONDS)) {
                    System.err.println("opensearch " + name + ": node did not close within 20 s");
                }
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                LogManager.shutdown(); // log4j's own hook is off (-Dlog4j.shutdownHookEnabled=false)
                closed.countDown();
            }
        }, "pola-opensearch-shutdown"));
        try {
            node.start();
        } catch (Throwable t) {
            t.printStackTrace();
            System.exit(1); // runs the hook, which closes what started
        }
        closed.await();
    }
}
