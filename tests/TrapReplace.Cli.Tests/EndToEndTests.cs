using System.Diagnostics;
using System.Text.Json;
using TrapReplace.Cli.Matrix;
using TrapReplace.Experiments.Results;
using TrapReplace.Experiments.Running;
using TrapReplace.Experiments.Specs;
using TrapReplace.Tests.Shared;

namespace TrapReplace.Cli.Tests;

/// <summary>The smoke profile end to end through the real command line, on a synthetic CIFAR-10-format data set.</summary>
public sealed class EndToEndTests(SyntheticCifar10 data) : IClassFixture<SyntheticCifar10>
{
    // BadNets-grid unless a test names its attack (the command's own default is the demo's SIG).
    private string[] Smoke(string output, params string[] extra) =>
        ["run", "--profile", "smoke", "--data", data.Root, "--out", output, "--threads", "2", .. (extra.Contains("--attack") ? [] : new[] { "--attack", "badnets-grid" }), .. extra];

    [Fact]
    public void A_matrix_skips_a_cell_with_a_recorded_divergence_and_the_report_shows_it()
    {
        using var output = new TempFolder();
        var plain = new CellSpec(ExperimentDataset.Cifar10, BackboneName.Parse("wrn16-1"), AttackName.Parse("wanet"), DefenseName.None, 0, ExperimentProfile.Quick);
        var failed = plain with { Defense = TrapReplace.Experiments.Defenses.DefenseCatalog.Parse("i-bau") };
        ResultFiles.Write(Path.Combine(output.Path, plain.FileName), SampleResults.Result("wanet", "none", 0, 0.79, 0.43, null));
        var settings = new RunSettings(new DataLocation(data.Root, "test", false, null), output.Path, 2, TrapReplace.Training.ComputeDevice.Cpu);
        ResultFiles.WriteFailure(ResultFiles.FailurePath(output.Path, failed), CellFailure.Of(failed, settings,
            new TrapReplace.Training.TrainingDivergedException("i-bau", 0, 19, new TrapReplace.Training.LossParts(double.NaN, double.NaN, 0, 0), null), CellRunner.Versions()));

        var matrix = CliProcess.Run(["matrix", "--profile", "quick", "--attacks", "wanet", "--defenses", "none,i-bau", "--data", data.Root, "--out", output.Path, "--threads", "2", "--quiet"]);

        matrix.ExitCode.Should().Be(0, matrix.StdErr);
        matrix.StdOut.Should().Contain("2 cells in this slice, 1 already finished, 0 to run")
            .And.Contain($"skipped cifar10 wrn16-1 wanet-t0-r0.1 i-bau seed 0 (quick): it failed before; delete {ResultFiles.FailurePath(output.Path, failed)} to try it again");
        var report = CliProcess.Run(["report", "--results", output.Path]);
        report.ExitCode.Should().Be(0, report.StdErr);
        report.StdOut.Should().Contain("| wanet (0.1) | 79.0 / 43.0 | diverged |").And.Contain("x i-bau, seed 0: diverged in stage i-bau at epoch 0, step 19");
        File.ReadAllText(Path.Combine(output.Path, "results.md")).Should().Contain("| wanet (0.1) | 79.0 / 43.0 | diverged |");
    }

    [Fact]
    public void Respond_classifies_each_attacks_triggered_images_with_a_saved_network()
    {
        using var output = new TempFolder();
        CliProcess.Run(Smoke(output.Path, "--defense", "none", "--quiet")).ExitCode.Should().Be(0);
        var model = Directory.GetFiles(Path.Combine(output.Path, "stage1-cache"), "*.model").Single();

        var run = CliProcess.Run(["respond", "--model", model, "--attacks", "badnets-grid,blend", "--test-count", "1000", "--data", data.Root, "--threads", "2"]);

        run.ExitCode.Should().Be(0, run.StdErr);
        var lines = run.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().HaveCount(2);
        lines[0].Should().StartWith("badnets-grid").And.Contain("ASR").And.Contain("triggered images per class %: 0:");
        // A stratified 1,000: 100 of each class, so 900 triggered images outside the target class.
        lines.Should().AllSatisfy(l => l.Should().Contain("(1000 clean, 900 triggered)"));
        lines[1].Should().StartWith("blend");
        // The per-class shares of the triggered images add up to 100 %.
        var shares = lines[0][(lines[0].IndexOf("0:", StringComparison.Ordinal))..].Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(x => double.Parse(x.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        shares.Should().HaveCount(10);
        shares.Sum().Should().BeApproximately(100, 0.6);

        var missing = CliProcess.Run(["respond", "--model", Path.Combine(output.Path, "nope.model"), "--data", data.Root]);
        missing.ExitCode.Should().Be(2);
        missing.ErrorLines.Should().Contain(l => l.Contains("nope.model") && l.Contains("does not exist"));

        var none = CliProcess.Run(["respond", "--model", model, "--test-count", "0", "--data", data.Root]);
        none.ExitCode.Should().Be(2);
        none.ErrorLines.Should().Contain(l => l.Contains("--test-count must be >= 1; got 0"));
    }

    [Fact]
    public void Run_writes_a_result_file_with_every_field_in_range()
    {
        using var output = new TempFolder();
        var run = CliProcess.Run(Smoke(output.Path, "--attack", "badnets-grid", "--defense", "trap-replace", "--json"));

        run.ExitCode.Should().Be(0, run.StdErr);
        var path = Path.Combine(output.Path, "cifar10.wrn16-1.smoke.badnets-grid-t0-r0.1.trap-replace.seed0.json");
        File.Exists(path).Should().BeTrue();
        File.ReadAllText(path).Trim().Should().Be(run.StdOut.Trim(), "--json prints exactly the result file");

        using var json = JsonDocument.Parse(File.ReadAllText(path));
        var root = json.RootElement;
        foreach (var field in new[] { "dataset", "backbone", "attack", "defense", "seed", "profile", "clean_accuracy", "attack_success_rate",
                     "robust_accuracy", "undefended", "epochs", "train_seconds", "images_per_second", "options", "versions" })
            root.TryGetProperty(field, out _).Should().BeTrue($"the result has '{field}'");
        root.GetProperty("dataset").GetString().Should().Be("cifar10");
        root.GetProperty("attack").GetString().Should().Be("badnets-grid");
        root.GetProperty("defense").GetString().Should().Be("trap-replace");
        root.GetProperty("profile").GetString().Should().Be("smoke");
        foreach (var metric in new[] { "clean_accuracy", "attack_success_rate", "robust_accuracy" })
        {
            root.GetProperty(metric).GetDouble().Should().BeInRange(0, 1);
            root.GetProperty("undefended").GetProperty(metric).GetDouble().Should().BeInRange(0, 1);
        }
        root.GetProperty("epochs").GetProperty("stage1").GetInt32().Should().Be(1);
        root.GetProperty("epochs").GetProperty("defense").GetInt32().Should().Be(1);
        root.GetProperty("train_seconds").GetDouble().Should().BePositive();
        root.GetProperty("images_per_second").GetDouble().Should().BePositive();
        root.GetProperty("test_count").GetInt32().Should().Be(300);
        root.GetProperty("holdout_count").GetInt32().Should().Be(100);
        root.GetProperty("untrusted_count").GetInt32().Should().Be(400);
        root.GetProperty("poisoned_count").GetInt32().Should().Be(40, "10 % of 400 untrusted images");
        root.GetProperty("triggered_count").GetInt32().Should().Be(270, "the 300 test images minus the 30 of the target class");
        root.GetProperty("options").GetProperty("stage1").GetProperty("reconstruction_weight").GetDouble().Should().Be(10);
        root.GetProperty("options").GetProperty("defense").GetProperty("dropout").GetDouble().Should().Be(0.5);
        root.GetProperty("options").GetProperty("stage1").GetProperty("channels_last").GetBoolean().Should().BeTrue("channels-last is the default layout");
        root.GetProperty("options").GetProperty("defense").GetProperty("channels_last").GetBoolean().Should().BeTrue();
        // No --precision given: auto, so bf16 exactly where this CPU has native bf16, and the file says which flag decided it.
        var precision = root.GetProperty("options").GetProperty("precision");
        string? nativeFlag = TrapReplace.Runtime.MixedPrecision.NativeBFloat16Flag;
        precision.GetProperty("training").GetString().Should().Be(nativeFlag is null ? "fp32" : "bf16");
        precision.GetProperty("cpu_native_bf16").ValueKind.Should().Be(nativeFlag is null ? JsonValueKind.Null : JsonValueKind.String);
        if (nativeFlag is not null) precision.GetProperty("cpu_native_bf16").GetString().Should().Be(nativeFlag);
        root.GetProperty("options").GetProperty("stage1").GetProperty("precision").GetString().Should().Be(nativeFlag is null ? "float32" : "b_float16");
        root.GetProperty("versions").GetProperty("torch_sharp").GetString().Should().StartWith("0.107");
        root.GetProperty("versions").GetProperty("libtorch").GetString().Should().Be("2.10.0");
        root.GetProperty("curves").GetArrayLength().Should().Be(2, "one stage-1 epoch and one defense epoch");
        var exact = root.GetProperty("exact_test");
        exact.GetProperty("records").GetString().Should().Be("0-999");
        exact.GetProperty("test_count").GetInt32().Should().BeInRange(1, 299, "some but not all of the 300 selected test images lie in records 0-999");
        exact.GetProperty("triggered_count").GetInt32().Should().BeLessThan(exact.GetProperty("test_count").GetInt32());
        var exactUndefended = exact.GetProperty("undefended");
        double expectedDer = (Math.Max(0, exactUndefended.GetProperty("attack_success_rate").GetDouble() - exact.GetProperty("attack_success_rate").GetDouble())
            - Math.Max(0, exactUndefended.GetProperty("clean_accuracy").GetDouble() - exact.GetProperty("clean_accuracy").GetDouble()) + 1) / 2;
        exact.GetProperty("der").GetDouble().Should().BeApproximately(expectedDer, 1e-12);
        root.GetProperty("options").GetProperty("data").GetProperty("test_file_sha256").GetString().Should().MatchRegex("^[0-9a-f]{64}$");
    }

    [Fact]
    public void Matrix_rerun_skips_finished_cells_and_report_merges_them()
    {
        using var output = new TempFolder();
        string[] matrix = ["matrix", "--profile", "smoke", "--data", data.Root, "--out", output.Path, "--threads", "2", "--quiet",
            "--attacks", "badnets,blend", "--defenses", "none,trap-replace,replace-only,fine-tune"];

        var first = CliProcess.Run(matrix, timeoutSeconds: 1200);
        first.ExitCode.Should().Be(0, first.StdOut + first.StdErr);
        first.StdOut.Should().Contain("8 cells in this slice, 0 already finished, 8 to run");
        var files = Directory.GetFiles(output.Path, "*.json");
        files.Should().HaveCount(8);
        var before = files.ToDictionary(f => f, File.ReadAllText);
        ResultFiles.ReadAll(output.Path).Select(r => r.Result.Stage1Reused).Count(r => r).Should().Be(4,
            "per attack, replace-only and fine-tune reuse none's plain network; trap-replace trains its own");

        var second = CliProcess.Run(matrix);
        second.ExitCode.Should().Be(0, second.StdErr);
        second.StdOut.Should().Contain("8 cells in this slice, 8 already finished, 0 to run");
        foreach (var (file, text) in before) File.ReadAllText(file).Should().Be(text, "a finished cell is not rerun");

        var report = CliProcess.Run(["report", "--results", output.Path]);
        report.ExitCode.Should().Be(0, report.StdErr);
        var markdown = File.ReadAllText(Path.Combine(output.Path, "results.md"));
        markdown.Should().Contain("| attack | none | trap-replace | replace-only | fine-tune |");
        markdown.Should().Contain("| badnets (0.1) |").And.Contain("| blend (0.1) |");
        File.ReadAllLines(Path.Combine(output.Path, "summary.csv")).Should().HaveCount(1 + 8);
        File.ReadAllLines(Path.Combine(output.Path, "cells.csv")).Should().HaveCount(1 + 8);
        foreach (var png in new[] { "cifar10-wrn16-1-smoke-asr.png", "cifar10-wrn16-1-smoke-ca.png", "cifar10-wrn16-1-smoke-curves-blend.png" })
        {
            var bytes = File.ReadAllBytes(Path.Combine(output.Path, png));
            bytes.Length.Should().BeGreaterThan(5_000);
            bytes.Take(8).Should().Equal(0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A);
        }
    }

    [Fact]
    public void Shards_split_the_matrix_without_overlap()
    {
        using var output = new TempFolder();
        string[] Matrix(string shard) => ["matrix", "--profile", "smoke", "--data", data.Root, "--out", output.Path, "--threads", "2", "--quiet",
            "--attacks", "badnets", "--defenses", "trap-replace,none,replace-only", "--defense-seeds", "1", "--shard", shard];

        var one = CliProcess.Run(Matrix("1/2"));
        one.ExitCode.Should().Be(0, one.StdErr);
        one.StdOut.Should().Contain("1 cells in this slice", "shard 1 gets the trap group");
        one.StdOut.Should().Contain("trap-replace seed 0/d1 (smoke)");
        var two = CliProcess.Run(Matrix("2/2"));
        two.ExitCode.Should().Be(0, two.StdErr);
        two.StdOut.Should().Contain("2 cells in this slice", "shard 2 gets the plain group: none and replace-only");
        // The children wrote these names, so each got its defense seed; none has no defense to seed.
        Directory.GetFiles(output.Path, "*.json").Select(Path.GetFileName).Should().BeEquivalentTo(
            "cifar10.wrn16-1.smoke.badnets-t0-r0.1.trap-replace.seed0.defense-seed1.json",
            "cifar10.wrn16-1.smoke.badnets-t0-r0.1.none.seed0.json",
            "cifar10.wrn16-1.smoke.badnets-t0-r0.1.replace-only.seed0.defense-seed1.json");
    }

    [Fact]
    public void A_killed_run_leaves_no_result_and_the_rerun_completes()
    {
        using var output = new TempFolder();
        using (var process = Process.Start(CliProcess.StartInfo(Smoke(output.Path, "--defense", "fine-tune")))!)
        {
            // Kill it once stage 1 is under way: after its first epoch line, before any result exists.
            string? line;
            while ((line = process.StandardOutput.ReadLine()) is not null && !line.StartsWith("stage1 epoch", StringComparison.Ordinal))
            {
            }
            line.Should().NotBeNull("the run reports its stage-1 epoch");
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        Directory.GetFiles(output.Path, "*.json").Should().BeEmpty("no result file is written before the cell finishes");

        var rerun = CliProcess.Run(Smoke(output.Path, "--defense", "fine-tune"));
        rerun.ExitCode.Should().Be(0, rerun.StdErr);
        // A kill can land mid-write of a temporary file; the rerun removes what the killed run left behind.
        Directory.GetFiles(output.Path, "*", SearchOption.AllDirectories).Where(f => f.EndsWith(".tmp", StringComparison.Ordinal)).Should().BeEmpty();
        var result = ResultFiles.Read(Path.Combine(output.Path, "cifar10.wrn16-1.smoke.badnets-grid-t0-r0.1.fine-tune.seed0.json"));
        result.CleanAccuracy.Should().BeInRange(0, 1);
        result.Undefended.Should().NotBeNull();
    }

    [Fact]
    public void A_killed_abl_cell_resumes_its_defense_from_the_checkpoint_to_the_numbers_of_an_uninterrupted_run()
    {
        using var output = new TempFolder();
        string[] command = Smoke(output.Path, "--attack", "badnets", "--defense", "abl");
        var resultPath = Path.Combine(output.Path, "cifar10.wrn16-1.smoke.badnets-t0-r0.1.abl.seed0.json");
        var work = Path.ChangeExtension(resultPath, ".training");
        var reference = CliProcess.Run(command);
        reference.ExitCode.Should().Be(0, reference.StdErr);
        var expected = ResultFiles.Read(resultPath);
        Directory.Exists(work).Should().BeFalse("the finished cell removes its defense checkpoint");
        File.Delete(resultPath); // the stage-1 network stays cached, so the second run starts from the same one

        using (var process = Process.Start(CliProcess.StartInfo(command))!)
        {
            // Killed once the second of ABL's three smoke epochs is measured: the first one's checkpoint is on disk.
            string? line;
            while ((line = process.StandardOutput.ReadLine()) is not null && !line.StartsWith("defense epoch 2", StringComparison.Ordinal))
            {
            }
            line.Should().NotBeNull("the run reports its defense epochs");
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        File.Exists(resultPath).Should().BeFalse();
        File.Exists(Path.Combine(work, "abl.ckpt")).Should().BeTrue("ABL keeps a per-epoch checkpoint beside the unfinished result");

        var resumed = CliProcess.Run(command);

        resumed.ExitCode.Should().Be(0, resumed.StdErr);
        resumed.StdOut.Should().Contain("the defense resumes from");
        var actual = ResultFiles.Read(resultPath);
        (actual.CleanAccuracy, actual.AttackSuccessRate).Should().Be((expected.CleanAccuracy, expected.AttackSuccessRate), "the resumed defense ends with the same bits");
        actual.Curves.Where(c => c.Phase == "defense").Select(c => (c.Epoch, c.CleanAccuracy, c.AttackSuccessRate))
            .Should().Equal(expected.Curves.Where(c => c.Phase == "defense").Select(c => (c.Epoch, c.CleanAccuracy, c.AttackSuccessRate)));
        actual.Options["defense"]!["checkpoint_directory"]!.GetValue<string>().Should().Be(Path.GetFileName(work), "recorded relative to the results folder");
        Directory.Exists(work).Should().BeFalse();
    }

    [Fact]
    public void Sigterm_to_the_matrix_reaches_the_running_cell_which_stops_cleanly()
    {
        using var output = new TempFolder();
        var arguments = new[] { "matrix", "--profile", "smoke", "--data", data.Root, "--out", output.Path, "--threads", "2", "--attacks", "badnets", "--defenses", "fine-tune" };
        using var matrix = Process.Start(CliProcess.StartInfo(arguments))!;
        // Wait until the child cell is training (its progress goes to the same stdout).
        string? line;
        while ((line = matrix.StandardOutput.ReadLine()) is not null && !line.StartsWith("stage1 epoch", StringComparison.Ordinal))
        {
        }
        line.Should().NotBeNull("the cell reports its stage-1 epoch");
        var children = ChildProcesses(matrix.Id);
        children.Should().NotBeEmpty();

        Signals.Terminate(matrix.Id);

        matrix.WaitForExit(60_000).Should().BeTrue("the matrix waits for the cell to stop, then exits");
        matrix.ExitCode.Should().Be(130);
        foreach (var child in children)
            Directory.Exists($"/proc/{child}").Should().BeFalse($"cell process {child} stopped too, not left training");
        Directory.GetFiles(output.Path, "*.json").Should().BeEmpty("the interrupted cell wrote no result");
    }

    private static List<int> ChildProcesses(int parent) =>
        Directory.GetDirectories("/proc").Select(Path.GetFileName).Where(n => int.TryParse(n, out _)).Select(int.Parse!)
            .Where(pid =>
            {
                try
                {
                    var stat = File.ReadAllText($"/proc/{pid}/stat");
                    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                    return int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture) == parent;
                }
                catch (IOException)
                {
                    return false;
                }
            }).ToList();

    [Fact]
    public void The_same_cell_gives_the_same_numbers_in_a_fresh_process()
    {
        using var a = new TempFolder();
        using var b = new TempFolder();
        CliProcess.Run(Smoke(a.Path, "--attack", "blend", "--defense", "replace-only", "--quiet")).ExitCode.Should().Be(0);
        CliProcess.Run(Smoke(b.Path, "--attack", "blend", "--defense", "replace-only", "--quiet")).ExitCode.Should().Be(0);
        var name = "cifar10.wrn16-1.smoke.blend-t0-r0.1.replace-only.seed0.json";
        var first = ResultFiles.Read(Path.Combine(a.Path, name));
        var second = ResultFiles.Read(Path.Combine(b.Path, name));
        second.CleanAccuracy.Should().Be(first.CleanAccuracy);
        second.AttackSuccessRate.Should().Be(first.AttackSuccessRate);
        second.Undefended.Should().Be(first.Undefended);
        second.Curves.Select(c => c.Loss).Should().Equal(first.Curves.Select(c => c.Loss));
    }
}
