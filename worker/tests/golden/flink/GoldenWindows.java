/*
 * Golden-output generator for ferroflink's event-time window tests.
 *
 * Runs three independent Flink jobs (tumbling, sliding, session) on a local
 * MiniCluster at parallelism 1 over events.csv, read in file order.  Every job
 * uses the same watermark generator: after every event it emits
 *     watermark = (max ts seen so far) - 2000 - 1
 * (Flink's BoundedOutOfOrderness formula with 2000 ms, but emitted per event;
 * periodic emission is disabled and onPeriodicEmit is a no-op).  At end of
 * input Flink emits the final Long.MAX_VALUE watermark.
 *
 * Usage: java -cp <flink jars>:<classes> GoldenWindows <events.csv> <out-dir>
 * Writes unsorted <pipeline>.csv and <pipeline>_late.csv into <out-dir>;
 * regenerate.sh sorts them.
 */

import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.datastream.WindowedStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.EventTimeSessionWindows;
import org.apache.flink.streaming.api.windowing.assigners.SlidingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.WindowAssigner;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.CloseableIterator;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

public class GoldenWindows {

    /** (key, ts, value) */
    public static final TypeInformation<Tuple3<String, Long, Long>> EVENT_TYPE =
            Types.TUPLE(Types.STRING, Types.LONG, Types.LONG);

    static final long OUT_OF_ORDERNESS_MS = 2000L;

    /** Bounded-out-of-orderness watermark, emitted after every event. */
    public static class PerEventBoundedOutOfOrderness
            implements WatermarkGenerator<Tuple3<String, Long, Long>> {
        private long maxTs = Long.MIN_VALUE + OUT_OF_ORDERNESS_MS + 1;

        @Override
        public void onEvent(Tuple3<String, Long, Long> event, long eventTimestamp, WatermarkOutput output) {
            maxTs = Math.max(maxTs, eventTimestamp);
            output.emitWatermark(new Watermark(maxTs - OUT_OF_ORDERNESS_MS - 1));
        }

        @Override
        public void onPeriodicEmit(WatermarkOutput output) {
            // intentionally a no-op: watermarks are emitted per event only
        }
    }

    public static class ByKey implements KeySelector<Tuple3<String, Long, Long>, String> {
        @Override
        public String getKey(Tuple3<String, Long, Long> e) {
            return e.f0;
        }
    }

    /** Accumulates (count, sum of value). */
    public static class CountSum
            implements AggregateFunction<Tuple3<String, Long, Long>, Tuple2<Long, Long>, Tuple2<Long, Long>> {
        @Override
        public Tuple2<Long, Long> createAccumulator() {
            return Tuple2.of(0L, 0L);
        }

        @Override
        public Tuple2<Long, Long> add(Tuple3<String, Long, Long> e, Tuple2<Long, Long> acc) {
            return Tuple2.of(acc.f0 + 1, acc.f1 + e.f2);
        }

        @Override
        public Tuple2<Long, Long> getResult(Tuple2<Long, Long> acc) {
            return acc;
        }

        @Override
        public Tuple2<Long, Long> merge(Tuple2<Long, Long> a, Tuple2<Long, Long> b) {
            return Tuple2.of(a.f0 + b.f0, a.f1 + b.f1);
        }
    }

    /** Emits "W|key,window_start,window_end,count,sum" per firing. */
    public static class EmitWindow
            extends ProcessWindowFunction<Tuple2<Long, Long>, String, String, TimeWindow> {
        @Override
        public void process(String key, Context ctx, Iterable<Tuple2<Long, Long>> aggs, Collector<String> out) {
            for (Tuple2<Long, Long> a : aggs) {
                TimeWindow w = ctx.window();
                out.collect("W|" + key + "," + w.getStart() + "," + w.getEnd() + "," + a.f0 + "," + a.f1);
            }
        }
    }

    public static class EmitLate implements MapFunction<Tuple3<String, Long, Long>, String> {
        @Override
        public String map(Tuple3<String, Long, Long> e) {
            return "L|" + e.f0 + "," + e.f1 + "," + e.f2;
        }
    }

    static List<Tuple3<String, Long, Long>> readEvents(Path p) throws IOException {
        List<Tuple3<String, Long, Long>> out = new ArrayList<>();
        for (String line : Files.readAllLines(p, StandardCharsets.UTF_8)) {
            line = line.trim();
            if (line.isEmpty()) {
                continue;
            }
            String[] f = line.split(",");
            out.add(Tuple3.of(f[0], Long.parseLong(f[1]), Long.parseLong(f[2])));
        }
        return out;
    }

    static void runPipeline(String name,
                            List<Tuple3<String, Long, Long>> events,
                            WindowAssigner<Object, TimeWindow> assigner,
                            Duration allowedLateness,
                            Path outDir) throws Exception {
        Configuration conf = new Configuration();
        conf.set(PipelineOptions.AUTO_WATERMARK_INTERVAL, Duration.ZERO); // no periodic watermarks
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(1, conf);
        env.setParallelism(1);
        env.setMaxParallelism(1);

        WatermarkStrategy<Tuple3<String, Long, Long>> wms =
                WatermarkStrategy.<Tuple3<String, Long, Long>>forGenerator(ctx -> new PerEventBoundedOutOfOrderness())
                        .withTimestampAssigner((e, recordTs) -> e.f1);

        // fromData emits the list in order (file order) at parallelism 1.
        DataStream<Tuple3<String, Long, Long>> input = env
                .fromData(events, EVENT_TYPE)
                .setParallelism(1)
                .assignTimestampsAndWatermarks(wms)
                .setParallelism(1);

        final OutputTag<Tuple3<String, Long, Long>> lateTag =
                new OutputTag<>(name + "-late", EVENT_TYPE);

        WindowedStream<Tuple3<String, Long, Long>, String, TimeWindow> windowed = input
                .keyBy(new ByKey())
                .window(assigner)
                .allowedLateness(allowedLateness)
                .sideOutputLateData(lateTag);

        SingleOutputStreamOperator<String> fired = windowed
                .aggregate(new CountSum(), new EmitWindow(),
                        Types.TUPLE(Types.LONG, Types.LONG), Types.TUPLE(Types.LONG, Types.LONG), Types.STRING)
                .setParallelism(1);

        DataStream<String> late = fired.getSideOutput(lateTag).map(new EmitLate()).returns(Types.STRING)
                .setParallelism(1);

        List<String> main = new ArrayList<>();
        List<String> lateLines = new ArrayList<>();
        try (CloseableIterator<String> it = fired.union(late).executeAndCollect("golden-" + name)) {
            while (it.hasNext()) {
                String s = it.next();
                if (s.startsWith("W|")) {
                    main.add(s.substring(2));
                } else if (s.startsWith("L|")) {
                    lateLines.add(s.substring(2));
                } else {
                    throw new IllegalStateException("unexpected line " + s);
                }
            }
        }
        write(outDir.resolve(name + ".csv"), main);
        write(outDir.resolve(name + "_late.csv"), lateLines);
        System.out.println(name + ": " + main.size() + " window firings, " + lateLines.size() + " late events");
    }

    static void write(Path p, List<String> lines) throws IOException {
        try (BufferedWriter w = Files.newBufferedWriter(p, StandardCharsets.UTF_8)) {
            for (String l : lines) {
                w.write(l);
                w.write('\n');
            }
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: GoldenWindows <events.csv> <out-dir>");
            System.exit(2);
        }
        List<Tuple3<String, Long, Long>> events = readEvents(Paths.get(args[0]));
        Path outDir = Paths.get(args[1]);
        Files.createDirectories(outDir);

        runPipeline("tumbling", events,
                TumblingEventTimeWindows.of(Duration.ofMillis(5000)),
                Duration.ofMillis(3000), outDir);
        runPipeline("sliding", events,
                SlidingEventTimeWindows.of(Duration.ofMillis(6000), Duration.ofMillis(2000)),
                Duration.ofMillis(2000), outDir);
        runPipeline("session", events,
                EventTimeSessionWindows.withGap(Duration.ofMillis(3000)),
                Duration.ofMillis(1000), outDir);
    }
}
