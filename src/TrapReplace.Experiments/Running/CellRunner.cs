using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using TrapReplace.Attacks;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Warping;
using TrapReplace.Data;
using TrapReplace.Evaluation;
using TrapReplace.Experiments.Defenses;
using TrapReplace.Experiments.Logging;
using TrapReplace.Experiments.Poisoning;
using TrapReplace.Experiments.Results;
using TrapReplace.Experiments.Serialization;
using TrapReplace.Experiments.Specs;
using TrapReplace.Experiments.Splits;
using TrapReplace.Models;
using TrapReplace.Runtime;
using TrapReplace.Training;
using TrapReplace.Trapping;
using static TorchSharp.torch;

namespace TrapReplace.Experiments.Running;

/// <summary>
/// Runs one cell: load and split the data, poison the untrusted part, train stage 1 (or reuse it from the
/// stage-1 cache), apply the defense on the clean holdout, evaluate on the test set, write the result file.
/// </summary>
public sealed class CellRunner(RunSettings settings, IRunObserver observer)
{
    /// <summary>Runs <paramref name="spec"/> and writes its result file; returns the result.</summary>
    public async Task<CellResult> RunAsync(CellSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Validate() is { Count: > 0 } errors) throw new UsageException(errors[0]);
        var profile = spec.Profile;
        var device = ResolveDevice();
        if (PrecisionNotice(settings.Precision, settings.Device, MixedPrecision.NativeBFloat16Flag) is { } notice) observer.Note(notice);

        using var data = await ExperimentData.LoadAsync(spec.Dataset, settings.Data, profile, cancellationToken, observer.Note).ConfigureAwait(false);
        observer.Note($"data: {data.Untrusted.Count} untrusted, {data.Holdout.Count} holdout, {data.Test.Count} test images ({spec.Dataset}, {settings.Data.Directory})");
        var backbone = spec.CreateBackbone(data.Untrusted.ClassCount);
        var cache = new Stage1Cache(Path.Combine(settings.ResultsDirectory, Stage1Cache.FolderName));

        using var attack = AttackSetup.Create(spec, data, () => SurrogateFor(spec, profile, data, backbone, cache, device, cancellationToken));
        var curveTriggered = attack.CurveTriggered;

        var stage1Spec = spec with { Defense = DefenseCatalog.StartsFromTrap(spec.Defense) ? DefenseCatalog.TrapReplace : DefenseName.None, DefenseSeed = null };
        var (stage1Network, stage1, reused) = GetOrTrainStage1(stage1Spec, profile, data, backbone, attack.TrainingSet, attack.BatchTransform,
            attack.Triggered, curveTriggered, cache, device, cancellationToken);
        using var trapped = stage1Network;
        // Measured here rather than cached with stage 1, so networks trained before the exact subset existed get it too.
        var exactUndefended = EvaluateExact(trapped, data, attack, device);

        var curves = new List<CurvePoint>(stage1.Curves);
        DefenseOutcome? outcome = null;
        // The result file's "defense" section: the defense's own report (a copy, never changed), then what the runner
        // measured about it with the attack's knowledge (poisoned share of the isolated samples, candidates, the scan).
        JsonObject? defenseSection = null;
        EvaluationReport? defendedReport = null;
        EvaluationReport? exactDefended = null;
        double evaluationSeconds = stage1.EvaluationSeconds;
        if (DefenseCatalog.Find(spec.Defense) is { } defense)
        {
            observer.PhaseStarted("defense", defense.Title, 0);
            var work = new DefenseWorkFolder(settings.ResultsDirectory, spec.FileName);
            // A defense resuming from its checkpoints (ABL, trap-cleanse) continues its curve too.
            var defenseCurve = new DefenseCurve(work.LoadCurves());
            if (defenseCurve.ResumedCount > 0) observer.Note($"the defense resumes from {work.Directory}; {defenseCurve.ResumedCount} curve points kept");
            string? stage = null;
            var events = new DefenseEvents(
                e =>
                {
                    // Sub-stages (NAD's teacher, ABL's phases) each count epochs from 0; show which one runs.
                    if (e.Stage != stage) observer.PhaseStarted("defense", $"{defense.Title} [{e.Stage}]", 0);
                    stage = e.Stage;
                    observer.Step("defense", e.Epoch, e.Step, e.StepsPerEpoch, e.Loss.Total, e.ImagesPerSecond);
                },
                e =>
                {
                    defenseCurve.Add(e.Stage, e.Record.Epoch, number => MeasureEpoch("defense", number, e, data.CurveTest, curveTriggered, device));
                    work.SaveCurves(defenseCurve.Points);
                });
            var context = new DefenseContext(spec, profile, backbone, attack.TrainingSet, attack.BatchTransform, data.Holdout, settings, events, cancellationToken,
                new NoteLogger(observer.Note, Microsoft.Extensions.Logging.LogLevel.Warning).AsFactory())
            {
                CheckpointDirectory = work.Directory,
            };
            try
            {
                outcome = defense.Apply(trapped, context);
                defenseSection = RelativePaths((JsonObject)outcome.Options.DeepClone());
                defenseCurve.Finish();
                curves.AddRange(defenseCurve.Points.Select(p => p.Point));
            }
            catch (TrainingDivergedException diverged)
            {
                // Deterministic: the same cell diverges again. Recorded so reports show it and matrices do not rerun it.
                Directory.CreateDirectory(settings.ResultsDirectory);
                var failurePath = ResultFiles.FailurePath(settings.ResultsDirectory, spec);
                ResultFiles.WriteFailure(failurePath, CellFailure.Of(spec, settings, diverged, Versions()));
                observer.Note($"the defense diverged; recorded in {failurePath} (delete it to let a matrix try the cell again)");
                throw;
            }
            using var candidatesOnError = new DisposeOnError(outcome.Candidates.Values);
            using (outcome.Network)
            {
                // A damaged network is never reported: NaN weights would read as CA 10 % and ASR 100 %.
                if (outcome.Network.FirstNonFiniteWeight() is { } bad)
                    throw new InvalidDataException($"the {spec.Defense} defense returned a network with non-finite weights (NaN or infinity) in '{bad}'; nothing was reported");
                observer.Note("evaluating the defended model on the test set");
                var clock = Stopwatch.StartNew();
                defendedReport = Evaluator.Evaluate(outcome.Network, data.Test, attack.Triggered, device, channelsLast: settings.ChannelsLast);
                exactDefended = EvaluateExact(outcome.Network, data, attack, device);
                evaluationSeconds = clock.Elapsed.TotalSeconds;
            }
            if (outcome.IsolatedIndices is { Count: > 0 } isolated && attack.PoisonedIndices is { } poisonedIndices)
            {
                // Measured after the fact by the runner, which knows the attack; the defense never saw it.
                var poisonedSet = poisonedIndices.ToHashSet();
                defenseSection!["isolated_poisoned_fraction"] = (double)isolated.Count(poisonedSet.Contains) / isolated.Count;
            }
            if (outcome.Candidates.Count > 0)
                defenseSection!["candidates"] = MeasureCandidates(outcome.Candidates, data, attack, device);
            candidatesOnError.Complete();
            if (outcome.Scan is { } scan)
                defenseSection!["scan"] = ScanReport.Describe(scan, attack.PoisonedIndices, spec.Attack.IsNone ? null : spec.TargetClass);
        }

        var undefended = stage1.Evaluation;
        var final = defendedReport is null ? undefended : Metrics.From(defendedReport);
        double? der = defendedReport is null ? null : Metrics.Der(undefended, final);
        ExactTestMetrics? exact = exactUndefended is null || data.ExactTest is null ? null : new ExactTestMetrics(
            Records: $"0-{Cifar10.ExactTestRecords - 1}",
            TestCount: exactUndefended.CleanCount,
            TriggeredCount: exactUndefended.TriggeredCount,
            CleanAccuracy: (exactDefended ?? exactUndefended).CleanAccuracy,
            AttackSuccessRate: (exactDefended ?? exactUndefended).AttackSuccessRate,
            RobustAccuracy: (exactDefended ?? exactUndefended).RobustAccuracy,
            Undefended: exactDefended is null ? null : Metrics.From(exactUndefended),
            Der: exactDefended is null ? null : Metrics.Der(Metrics.From(exactUndefended), Metrics.From(exactDefended)));
        var options1 = new JsonObject
        {
            ["profile"] = JsonSerializer.SerializeToNode(profile, ExperimentJson.Options),
            ["data"] = new JsonObject
            {
                ["split_seed"] = ExperimentData.SplitSeed,
                ["untrusted_count"] = data.Untrusted.Count,
                ["holdout_count"] = data.Holdout.Count,
                ["test_count"] = data.Test.Count,
                ["curve_count"] = data.CurveTest.Count,
                ["source"] = settings.Data.Source,
                ["test_file_sha256"] = data.TestFile?.Sha256,
                ["test_file_official"] = data.TestFile?.IsOfficial,
            },
            ["attack"] = attack.Options,
            ["stage1"] = stage1.Options.DeepClone(),
            // Training arithmetic (evaluation is always float32) and what the CPU offers for bf16.
            ["precision"] = new JsonObject
            {
                ["training"] = PrecisionName.Of(settings.Precision),
                ["cpu_native_bf16"] = MixedPrecision.NativeBFloat16Flag,
            },
            ["defense"] = defenseSection,
        };
        var result = new CellResult
        {
            Dataset = spec.Dataset.Name,
            Backbone = spec.Backbone.Value,
            Attack = spec.Attack.Value,
            Defense = spec.Defense.Value,
            Seed = spec.Seed,
            DefenseSeed = spec.DefenseSeed,
            Profile = spec.Profile.Name,
            TargetClass = spec.TargetClass,
            PoisonRatio = spec.Attack.IsNone ? null : spec.ResolvedRatio,
            PoisonRatioOf = attack.RatioOf,
            PoisonedCount = attack.PoisonedCount,
            CleanAccuracy = final.CleanAccuracy,
            AttackSuccessRate = final.AttackSuccessRate,
            RobustAccuracy = final.RobustAccuracy,
            Undefended = defendedReport is null ? null : undefended,
            Der = der,
            ExactTest = exact,
            TriggeredPredictionShare = defendedReport is { TriggeredCount: > 0 } r ? r.TriggeredPredictionShare : null,
            PerClassAccuracy = defendedReport?.PerClassAccuracy ?? stage1.PerClassAccuracy,
            TestCount = data.Test.Count,
            TriggeredCount = defendedReport?.TriggeredCount ?? stage1.TriggeredCount,
            UntrustedCount = data.Untrusted.Count,
            HoldoutCount = data.Holdout.Count,
            Epochs = new EpochCounts(stage1.History.Count, outcome?.Epochs ?? 0),
            TrainSeconds = stage1.Seconds + (outcome?.Seconds ?? 0),
            Stage1Seconds = stage1.Seconds,
            DefenseSeconds = outcome?.Seconds ?? 0,
            EvaluationSeconds = evaluationSeconds,
            ImagesPerSecond = stage1.ImagesPerSecond,
            Stage1Reused = reused,
            Curves = curves,
            Options = options1,
            Versions = Versions(),
            Threads = settings.Threads,
            Device = settings.Device.ToString(),
            FinishedUtc = DateTimeOffset.UtcNow,
        };
        Directory.CreateDirectory(settings.ResultsDirectory);
        ResultFiles.Write(Path.Combine(settings.ResultsDirectory, spec.FileName), result);
        new DefenseWorkFolder(settings.ResultsDirectory, spec.FileName).Remove(); // the result holds everything now
        File.Delete(ResultFiles.FailurePath(settings.ResultsDirectory, spec)); // an earlier failure of this cell no longer holds
        return result;
    }

    private (TrapNetwork Network, Stage1Record Record, bool Reused) GetOrTrainStage1(CellSpec stage1Spec, ExperimentProfile profile, ExperimentData data,
        IBackbone backbone, ImageDataset trainingSet, IBatchTransform? batchTransform, ITriggeredTestSet? triggered, ITriggeredTestSet? curveTriggered,
        Stage1Cache cache, Device device, CancellationToken cancellationToken)
    {
        string key = Stage1Cache.Key(stage1Spec, settings.Threads, settings.ChannelsLast, settings.Precision);
        var options = profile.Stage1Options(DefenseCatalog.StartsFromTrap(stage1Spec.Defense), stage1Spec.Seed, settings.Threads, settings.Device, settings.ChannelsLast, settings.Precision);
        options.CheckpointDirectory = cache.CheckpointDirectory(key);
        var optionsJson = RelativePaths(JsonSerializer.SerializeToNode(options, ExperimentJson.Options)!.AsObject());
        var cached = cache.TryLoad(key, backbone, optionsJson, out var problem);
        if (problem is not null) observer.Note($"stage-1 cache entry {key} is not usable ({problem}); it was moved aside and stage 1 trains again");
        if (cached is { } hit)
        {
            observer.Note($"stage 1 reused from {Path.Combine(cache.Directory, key)}.model (trained in {hit.Record.Seconds:F0} s)");
            hit.Network.to(device);
            return (hit.Network, hit.Record, true);
        }

        var curves = cache.LoadPartialCurves(key);
        // Warnings (a damaged checkpoint moved aside, the stage starting again) reach the terminal as notes.
        var trainer = new TrapTrainer(options, new NoteLogger(observer.Note, Microsoft.Extensions.Logging.LogLevel.Warning).ForTrainer());
        observer.PhaseStarted("stage1", DefenseCatalog.StartsFromTrap(stage1Spec.Defense) ? "stage 1: trap training (CE + 10 MSE + 1 TV)" : "plain training (undefended)", options.Epochs);
        trainer.StepCompleted += (_, e) => observer.Step("stage1", e.Epoch, e.Step, e.StepsPerEpoch, e.Loss.Total, e.ImagesPerSecond);
        trainer.EpochCompleted += (_, e) =>
        {
            curves.RemoveAll(c => c.Epoch > e.Record.Epoch);
            curves.Add(MeasureEpoch("stage1", e.Record.Epoch + 1, e, data.CurveTest, curveTriggered, device));
            cache.SavePartialCurves(key, curves);
        };
        var trained = trainer.Fit(backbone, trainingSet, batchTransform, cancellationToken);
        try
        {
            observer.Note("evaluating the undefended model on the test set");
            var clock = Stopwatch.StartNew();
            var report = Evaluator.Evaluate(trained.Network, data.Test, triggered, device, channelsLast: settings.ChannelsLast);
            double evaluationSeconds = clock.Elapsed.TotalSeconds;
            var record = new Stage1Record
            {
                Key = key,
                Options = optionsJson,
                History = trained.History,
                Seconds = trained.History.Sum(h => h.Seconds),
                ImagesPerSecond = trained.History.Count == 0 ? 0 : trained.History.Average(h => h.ImagesPerSecond),
                Evaluation = Metrics.From(report),
                PerClassAccuracy = report.PerClassAccuracy,
                TestCount = report.CleanCount,
                TriggeredCount = report.TriggeredCount,
                EvaluationSeconds = evaluationSeconds,
                Curves = curves,
                ModelSha256 = "",
            };
            cache.Save(key, trained.Network, record);
            return (trained.Network, record, false);
        }
        catch
        {
            trained.Network.Dispose();
            throw;
        }
    }

    // Label-consistent needs a classifier to attack with PGD: the plainly trained clean model of the same seed.
    private Func<Tensor, Tensor> SurrogateFor(CellSpec spec, ExperimentProfile profile, ExperimentData data, IBackbone backbone, Stage1Cache cache,
        Device device, CancellationToken cancellationToken)
    {
        observer.Note("label-consistent: training (or reusing) the clean plain model as the PGD surrogate");
        var clean = spec with { Attack = AttackName.None, Defense = DefenseName.None, PoisonRatio = null, DefenseSeed = null };
        var (network, _, _) = GetOrTrainStage1(clean, profile, data, backbone, data.Untrusted, null, null, null, cache, device, cancellationToken);
        network.eval();
        foreach (var p in network.parameters()) p.requires_grad = false;
        // PGD differentiates with respect to the images: channels-last keeps that input gradient off libtorch's standard-layout
        // kernel for 3 input channels, which is wrong on some CPUs (docs/performance.md, `--kernel-check`).
        return images => network.forward(settings.ChannelsLast ? MemoryLayout.ToChannelsLast(images) : images);
    }

    /// <summary>What to tell the user about the chosen precision on this CPU, or null when there is nothing to say: bf16
    /// on a CPU whose flags (<paramref name="nativeBf16Flag"/>, null when it has neither avx512_bf16 nor amx_bf16) show no
    /// native bf16 still runs, with the same numerics, but emulated and slower than fp32.</summary>
    internal static string? PrecisionNotice(Precision precision, ComputeDevice device, string? nativeBf16Flag) =>
        precision == Precision.BFloat16 && !device.IsCuda && nativeBf16Flag is null
            ? "this CPU has no native bf16 (neither avx512_bf16 nor amx_bf16): bf16 autocast runs emulated, slower than fp32 (--precision auto picks fp32 here)"
            : null;

    // Result files travel between machines: folders inside the results folder are written relative to it.
    private JsonObject RelativePaths(JsonObject options)
    {
        if (options["checkpoint_directory"]?.GetValue<string>() is { } folder)
            options["checkpoint_directory"] = Path.GetRelativePath(settings.ResultsDirectory, folder);
        return options;
    }

    // CIFAR-10's test records 0-999 hold the official images in every copy; null where there is no such subset.
    // The networks a defense chose between and did not return: measured here, after the choice, so a result file shows
    // what the choice gave up; each is disposed once measured.
    private JsonObject MeasureCandidates(IReadOnlyDictionary<string, TrapNetwork> candidates, ExperimentData data, AttackSetup attack, Device device)
    {
        var measured = new JsonObject();
        foreach (var (name, network) in candidates)
            using (network)
            {
                var report = Metrics.From(Evaluator.Evaluate(network, data.Test, attack.Triggered, device, channelsLast: settings.ChannelsLast));
                var exact = EvaluateExact(network, data, attack, device);
                measured[name] = new JsonObject
                {
                    ["clean_accuracy"] = report.CleanAccuracy,
                    ["attack_success_rate"] = report.AttackSuccessRate,
                    ["robust_accuracy"] = report.RobustAccuracy,
                    ["exact_test_clean_accuracy"] = exact?.CleanAccuracy,
                    ["exact_test_attack_success_rate"] = exact?.AttackSuccessRate,
                };
            }
        return measured;
    }

    private EvaluationReport? EvaluateExact(TrapNetwork network, ExperimentData data, AttackSetup attack, Device device) =>
        data.ExactTest is { Count: > 0 } exact ? Evaluator.Evaluate(network, exact, attack.ExactTriggered, device, channelsLast: settings.ChannelsLast) : null;

    private CurvePoint MeasureEpoch(string phase, int epoch, EpochCompletedEventArgs e, ImageDataset curveTest, ITriggeredTestSet? curveTriggered, Device device)
    {
        var report = Evaluator.Evaluate(e.Network!, curveTest, curveTriggered, device, channelsLast: settings.ChannelsLast);
        var point = new CurvePoint(phase, epoch, e.Record.Loss.Total, e.Record.TrainAccuracy, report.CleanAccuracy, report.AttackSuccessRate)
        {
            EstimatedAttackSuccess = e.Record.EstimatedAttackSuccess,
        };
        observer.EpochDone(point, e.Epochs, e.Record.ImagesPerSecond, e.Record.Seconds);
        return point;
    }

    private Device ResolveDevice()
    {
        try
        {
            return settings.Device.ToTorch();
        }
        catch (InvalidOperationException e)
        {
            throw new UsageException($"--device '{settings.Device}' is not usable here: {e.Message}");
        }
    }

    /// <summary>Library, TorchSharp and libtorch versions of this process.</summary>
    public static VersionInfo Versions()
    {
        static string Informational(Assembly a) =>
            a.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? a.GetName().Version?.ToString() ?? "unknown";
        var libtorch = typeof(CellRunner).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "LibTorchVersion")?.Value ?? "unknown";
        return new VersionInfo(Informational(typeof(TrapTrainer).Assembly), Informational(typeof(TorchSharp.torch).Assembly), libtorch,
            Environment.Version.ToString(), System.Runtime.InteropServices.RuntimeInformation.OSDescription, Environment.ProcessorCount,
            CpuIdentity.Current?.Describe());
    }
}

/// <summary>Disposes networks unless <see cref="Complete"/> was called first (they were handed on or disposed already).</summary>
internal sealed class DisposeOnError(IEnumerable<TrapNetwork> networks) : IDisposable
{
    private bool completed;

    public void Complete() => completed = true;

    public void Dispose()
    {
        if (completed) return;
        foreach (var network in networks) network.Dispose();
    }
}
