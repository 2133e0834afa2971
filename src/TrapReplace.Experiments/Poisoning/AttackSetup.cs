using System.Text.Json;
using System.Text.Json.Nodes;
using TrapReplace.Attacks;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Triggers;
using TrapReplace.Attacks.Warping;
using TrapReplace.Data;
using TrapReplace.Evaluation;
using TrapReplace.Experiments.Serialization;
using TrapReplace.Experiments.Specs;
using TrapReplace.Experiments.Splits;
using TrapReplace.Training;
using static TorchSharp.torch;

namespace TrapReplace.Experiments.Poisoning;

/// <summary>The attack side of a cell: the (poisoned) training set, the per-batch poisoner and the triggered test set.</summary>
internal sealed class AttackSetup : IDisposable
{
    private readonly List<IDisposable> owned = [];

    private AttackSetup(ImageDataset trainingSet, bool ownsTrainingSet)
    {
        TrainingSet = trainingSet;
        if (ownsTrainingSet) owned.Add(trainingSet);
    }

    /// <summary>What stage 1 trains on.</summary>
    public ImageDataset TrainingSet { get; }

    /// <summary>WaNet's per-batch poisoning; null for the other attacks.</summary>
    public IBatchTransform? BatchTransform { get; private init; }

    /// <summary>Triggered non-target test images; null without an attack.</summary>
    public ITriggeredTestSet? Triggered { get; private init; }

    /// <summary>Triggered non-target images of the curve subset (measured after every epoch); null without an attack.</summary>
    public ITriggeredTestSet? CurveTriggered { get; private init; }

    /// <summary>Triggered non-target images of <see cref="ExperimentData.ExactTest"/>; null without an attack or exact subset.</summary>
    public ITriggeredTestSet? ExactTriggered { get; private init; }

    /// <summary>Images poisoned in the training set (WaNet poisons per batch: 0).</summary>
    public int PoisonedCount { get; private init; }

    /// <summary>Indices of the poisoned images in <see cref="TrainingSet"/>; null when nothing is poisoned up front (no attack, WaNet).</summary>
    public IReadOnlyList<int>? PoisonedIndices { get; private init; }

    /// <summary>WholeTrainingSet, TargetClass or PerBatch; null without an attack.</summary>
    public string? RatioOf { get; private init; }

    /// <summary>The attack's resolved settings, for the result file.</summary>
    public JsonObject? Options { get; private init; }

    public static AttackSetup Create(CellSpec spec, ExperimentData data, Func<Func<Tensor, Tensor>> surrogate)
    {
        if (spec.Attack.IsNone) return new AttackSetup(data.Untrusted, ownsTrainingSet: false);

        var policy = new PoisoningPolicy(
            TargetClass: spec.TargetClass,
            PoisonRatio: spec.ResolvedRatio,
            Denominator: spec.Attack.IsCleanLabel ? PoisonRatioDenominator.TargetClass : PoisonRatioDenominator.WholeTrainingSet,
            LabelMode: spec.Attack.IsCleanLabel ? LabelMode.CleanLabel : LabelMode.DirtyLabel,
            Seed: spec.Seed);
        var name = spec.Attack.Value;
        var parameters = new AttackParameters { SurrogateModel = name == "label-consistent" ? surrogate() : null };
        IAttack attack;
        try
        {
            attack = AttackCatalog.Create(name, policy, parameters);
        }
        catch (Exception e) when (e is ArgumentException or Microsoft.Extensions.Options.OptionsValidationException)
        {
            throw new UsageException($"--attack {spec.Attack}: {e.Message}");
        }

        using var testImages = data.Test.ImagesAsFloat();
        var triggeredSet = attack.CreateTriggeredTestSet(testImages, data.Test.Labels);
        using var curveImages = data.CurveTest.ImagesAsFloat();
        var curveSet = attack.CreateTriggeredTestSet(curveImages, data.CurveTest.Labels);
        TriggeredTestSet? exactSet = null;
        if (data.ExactTest is { Count: > 0 } exactTest)
        {
            using var exactImages = exactTest.ImagesAsFloat();
            exactSet = attack.CreateTriggeredTestSet(exactImages, exactTest.Labels);
        }
        var options = new JsonObject
        {
            ["name"] = name,
            ["policy"] = JsonSerializer.SerializeToNode(attack.Policy, ExperimentJson.Options),
            ["blend_alpha"] = parameters.BlendAlpha,
            ["sig_mode"] = name switch { "sig" => parameters.SigMode.ToString(), "sig-smooth" => nameof(SigMode.Blend), _ => null },
            ["sig_frequency"] = name == "sig-smooth" || (name == "sig" && parameters.SigMode != SigMode.Reference) ? parameters.SigFrequency : null,
            ["trigger_seed"] = parameters.TriggerSeed,
            ["wanet"] = name == "wanet" ? JsonSerializer.SerializeToNode(parameters.WaNet, ExperimentJson.Options) : null,
            ["pgd"] = name == "label-consistent" ? JsonSerializer.SerializeToNode(parameters.Pgd, ExperimentJson.Options) : null,
        };

        if (attack is IBatchPoisoner poisoner)
        {
            // Training-controlled: the stored set stays clean and every batch is poisoned as it is drawn.
            var setup = new AttackSetup(data.Untrusted, ownsTrainingSet: false)
            {
                BatchTransform = poisoner.AsBatchTransform(),
                Triggered = triggeredSet.ForEvaluation(),
                CurveTriggered = curveSet.ForEvaluation(),
                ExactTriggered = exactSet is null ? null : exactSet.ForEvaluation(),
                PoisonedCount = 0,
                RatioOf = "PerBatch",
                Options = options,
            };
            setup.owned.Add(triggeredSet);
            setup.owned.Add(curveSet);
            if (exactSet is not null) setup.owned.Add(exactSet);
            return setup;
        }

        PoisonedDataset poisoned;
        using (var clean = data.Untrusted.ImagesAsFloat())
        {
            try
            {
                poisoned = attack.Poison(clean, data.Untrusted.Labels, data.Untrusted.ClassCount);
            }
            catch (Exception e) when (e is ArgumentException or Microsoft.Extensions.Options.OptionsValidationException)
            {
                triggeredSet.Dispose();
                curveSet.Dispose();
                exactSet?.Dispose();
                throw new UsageException($"--attack {spec.Attack} with --ratio {spec.ResolvedRatio}: {e.Message}");
            }
        }
        using (poisoned)
        {
            var trainingSet = ImageDataset.FromTensors(poisoned.Images, poisoned.Labels, data.Untrusted.ClassNames, $"{data.Untrusted.Name}-{spec.Attack}");
            var setup = new AttackSetup(trainingSet, ownsTrainingSet: true)
            {
                Triggered = triggeredSet.ForEvaluation(),
                CurveTriggered = curveSet.ForEvaluation(),
                ExactTriggered = exactSet is null ? null : exactSet.ForEvaluation(),
                PoisonedCount = poisoned.PoisonedIndices.Count,
                PoisonedIndices = poisoned.PoisonedIndices.ToArray(),
                RatioOf = policy.Denominator.ToString(),
                Options = options,
            };
            setup.owned.Add(triggeredSet);
            setup.owned.Add(curveSet);
            if (exactSet is not null) setup.owned.Add(exactSet);
            return setup;
        }
    }

    public void Dispose()
    {
        foreach (var d in owned) d.Dispose();
    }
}
