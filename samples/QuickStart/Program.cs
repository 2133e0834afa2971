// Trap and Replace end to end: poison CIFAR-10 with BadNets (grid), trap, replace, evaluate.
// dotnet run -c Release --project samples/QuickStart -- [train images] [trap epochs] [replace epochs]
using TrapReplace.Attacks;
using PoisoningPolicy = TrapReplace.Attacks.Poisoning.PoisoningPolicy;
using TrapReplace.Data;
using TrapReplace.Defense;
using TrapReplace.Evaluation;
using TrapReplace.Experiments.Poisoning;
using TrapReplace.Models;
using static TorchSharp.torch;

int count = args.Length > 0 ? int.Parse(args[0]) : 50_000, trapEpochs = args.Length > 1 ? int.Parse(args[1]) : 20, replaceEpochs = args.Length > 2 ? int.Parse(args[2]) : 20;
var root = DataDirectory.Resolve(null);
using var full = Cifar10.Load(root, DatasetSplit.Train);
using var train = full.Subset(Enumerable.Range(0, count).ToArray());
using var test = Cifar10.Load(root, DatasetSplit.Test);
var (untrusted, holdout) = HoldoutSplit.Create(train.LabelArray(), 0.05, seed: 0).Apply(train);

var attack = AttackCatalog.Create("badnets-grid", new PoisoningPolicy(TargetClass: 0, PoisonRatio: 0.1));
using var poisoned = attack.Poison(untrusted.ImagesAsFloat(), untrusted.Labels, untrusted.ClassCount);
using var poisonedSet = ImageDataset.FromTensors(poisoned.Images, poisoned.Labels, untrusted.ClassNames, "cifar10-badnets-grid");
using var triggered = attack.CreateTriggeredTestSet(test.ImagesAsFloat(), test.Labels);

var defense = TrapAndReplace.Configure()
    .WithBackbone(new WideResNet16Backbone(classCount: 10))
    .WithReconstruction(weight: 10, totalVariationWeight: 1)
    .Trap(o => o.Epochs = trapEpochs)
    .Replace(o => o.Epochs = replaceEpochs)
    .WithSeed(0)
    .Build();
defense.EpochCompleted += (_, e) => Console.WriteLine($"{e.Stage} epoch {e.Record.Epoch + 1}/{e.Epochs}: loss {e.Record.Loss.Total:F3}, {e.Record.ImagesPerSecond:F0} img/s");
using var result = defense.Fit(poisonedSet, holdout);

var asrSet = triggered.ForEvaluation();
var before = Evaluator.Evaluate(result.Trapped, test, asrSet);
var after = Evaluator.Evaluate(result.Defended, test, asrSet);
Console.WriteLine($"trapped head : CA {before.CleanAccuracy:P2}  ASR {before.AttackSuccessRate:P2}  RA {before.RobustAccuracy:P2}");
Console.WriteLine($"replaced head: CA {after.CleanAccuracy:P2}  ASR {after.AttackSuccessRate:P2}  RA {after.RobustAccuracy:P2}  DER {DefenseEffectiveness.Rating(before, after):F3}");
untrusted.Dispose();
holdout.Dispose();
