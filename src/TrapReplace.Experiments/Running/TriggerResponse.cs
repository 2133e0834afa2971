using TrapReplace.Attacks;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Data;
using TrapReplace.Evaluation;
using TrapReplace.Experiments.Poisoning;
using TrapReplace.Experiments.Specs;
using TrapReplace.Experiments.Splits;
using TrapReplace.Models;
using TrapReplace.Persistence;

namespace TrapReplace.Experiments.Running;

/// <summary>How one network classifies one attack's triggered test images.</summary>
/// <param name="Attack">The attack's name.</param>
/// <param name="Report">CA on the clean test set, ASR and RA on the triggered non-target images, and the share of
/// triggered images each class receives.</param>
public sealed record TriggerResponse(AttackName Attack, EvaluationReport Report);

/// <summary>
/// Evaluates a saved network on the triggered test images of any attacks. Its main use is a control: a network that
/// never learned a trigger shows what the trigger does as plain image corruption (a noise blend read as one class, a
/// perturbation that lowers robust accuracy), the level a defended network's robust accuracy can be judged against.
/// </summary>
public static class TriggerResponses
{
    /// <summary>Loads the test split of <paramref name="dataset"/> and the network, and evaluates it per attack.</summary>
    /// <param name="modelPath">A model file (<see cref="ModelFile.Save"/>; stage-1 cache entries are such files).</param>
    /// <param name="backbone">The network's architecture.</param>
    /// <param name="dataset">The data set whose test split is measured.</param>
    /// <param name="dataDirectory">The data root holding the data set.</param>
    /// <param name="attacks">The attacks (not <see cref="AttackName.None"/>); clean-label ones apply their trigger too.</param>
    /// <param name="target">The target class the triggered images are measured against.</param>
    /// <param name="testCount">Measure a stratified selection of this many test images (the one a profile's
    /// <see cref="ExperimentProfile.TestCount"/> draws); null = the whole test split.</param>
    /// <exception cref="UsageException"><see cref="AttackName.None"/> among the attacks, an out-of-range target, or a
    /// test count below 1.</exception>
    public static IReadOnlyList<TriggerResponse> Measure(string modelPath, IBackbone backbone, ExperimentDataset dataset, string dataDirectory,
        IReadOnlyList<AttackName> attacks, int target, int? testCount = null)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(attacks);
        ArgumentNullException.ThrowIfNull(dataset);
        if (attacks.FirstOrDefault(a => a.IsNone) is { } none) throw new UsageException($"attack '{none}' has no trigger to measure; choose from {string.Join(", ", AttackCatalog.Names)}");
        if (target < 0 || target >= backbone.ClassCount) throw new UsageException($"--target must be in [0, {backbone.ClassCount - 1}]; got {target}");
        if (testCount < 1) throw new UsageException($"--test-count must be >= 1; got {testCount}");
        using var testAll = dataset.Load(dataDirectory, DatasetSplit.Test);
        using var test = ExperimentData.Stratified(testAll, testCount);
        using var network = ModelFile.Load(backbone, modelPath);
        using var images = test.ImagesAsFloat();
        // CA does not depend on the attack: one pass over the clean test set serves all of them.
        var clean = Evaluator.Evaluate(network, test);
        var responses = new List<TriggerResponse>();
        foreach (var name in attacks)
        {
            var attack = AttackCatalog.Create(name.Value, new PoisoningPolicy(TargetClass: target, PoisonRatio: 0.1));
            using var triggered = attack.CreateTriggeredTestSet(images, test.Labels);
            responses.Add(new TriggerResponse(name, Evaluator.WithTriggered(network, clean, triggered.ForEvaluation())));
        }
        return responses;
    }
}
