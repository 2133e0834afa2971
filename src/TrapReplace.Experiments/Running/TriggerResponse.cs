using TrapReplace.Attacks;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Data;
using TrapReplace.Evaluation;
using TrapReplace.Experiments.Poisoning;
using TrapReplace.Experiments.Specs;
using TrapReplace.Models;
using TrapReplace.Persistence;

namespace TrapReplace.Experiments.Running;

/// <summary>How one network classifies one attack's triggered test images.</summary>
/// <param name="Attack">The attack's name.</param>
/// <param name="Report">CA on the clean test set, ASR and RA on the triggered non-target images, and the share of
/// triggered images each class receives.</param>
public sealed record TriggerResponse(string Attack, EvaluationReport Report);

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
    /// <param name="dataset">cifar10 or gtsrb.</param>
    /// <param name="dataDirectory">The data root holding the data set.</param>
    /// <param name="attacks">Attack names (<see cref="AttackCatalog.Names"/>); clean-label ones apply their trigger too.</param>
    /// <param name="target">The target class the triggered images are measured against.</param>
    /// <exception cref="UsageException">An unknown attack, dataset or an out-of-range target.</exception>
    public static IReadOnlyList<TriggerResponse> Measure(string modelPath, IBackbone backbone, string dataset, string dataDirectory,
        IReadOnlyList<string> attacks, int target)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(attacks);
        foreach (var a in attacks)
            if (!AttackCatalog.Names.Contains(a)) throw new UsageException($"unknown attack '{a}'; choose from {string.Join(", ", AttackCatalog.Names)}");
        if (target < 0 || target >= backbone.ClassCount) throw new UsageException($"--target must be in [0, {backbone.ClassCount - 1}]; got {target}");
        var kind = ExperimentDataset.Find(dataset)
            ?? throw new UsageException($"unknown --dataset '{dataset}'; choose one of {string.Join(", ", CellSpec.Datasets)}");
        using var test = kind.Load(dataDirectory, DatasetSplit.Test);
        using var network = ModelFile.Load(backbone, modelPath);
        using var images = test.ImagesAsFloat();
        var responses = new List<TriggerResponse>();
        foreach (var name in attacks)
        {
            var attack = AttackCatalog.Create(name, new PoisoningPolicy(TargetClass: target, PoisonRatio: 0.1));
            using var triggered = attack.CreateTriggeredTestSet(images, test.Labels);
            responses.Add(new TriggerResponse(name, Evaluator.Evaluate(network, test, triggered.ForEvaluation())));
        }
        return responses;
    }
}
