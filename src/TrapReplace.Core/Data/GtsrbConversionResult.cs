namespace TrapReplace.Data;

/// <summary>What <see cref="Gtsrb.ConvertFromOfficialArchives"/> wrote.</summary>
/// <param name="Folder">Full path of the <c>gtsrb-32x32-bin</c> folder holding <c>train.bin</c>,
/// <c>test.bin</c>, <c>classes.txt</c>, <c>train_filenames.txt</c> and <c>test_filenames.txt</c>.</param>
/// <param name="TrainCount">Records in <c>train.bin</c> (39,209 for the official archive).</param>
/// <param name="TestCount">Records in <c>test.bin</c> (12,630 for the official archive).</param>
/// <param name="TrainCountPerClass">Training records per class, index = label (43 entries).</param>
/// <param name="TestCountPerClass">Test records per class, index = label (43 entries).</param>
public sealed record GtsrbConversionResult(string Folder, int TrainCount, int TestCount,
    IReadOnlyList<int> TrainCountPerClass, IReadOnlyList<int> TestCountPerClass);
