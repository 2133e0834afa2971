using static TorchSharp.torch;

namespace TrapReplace.Data;

/// <summary>
/// Reads the CIFAR-10 "binary version" record layout, which the GTSRB cache uses too:
/// each record is 1 label byte followed by the R, G and B planes, each H*W bytes, row-major.
/// </summary>
internal static class BinaryRecordFile
{
    /// <summary>
    /// Reads every record of the files in order. Throws <see cref="DatasetFormatException"/> naming
    /// the file when it is missing, empty, not a whole number of records, or holds a label out of range.
    /// </summary>
    /// <param name="paths">Files to concatenate, in order.</param>
    /// <param name="height">Image height of every record.</param>
    /// <param name="width">Image width of every record.</param>
    /// <param name="classCount">Labels must be below this.</param>
    /// <param name="expectedRecords">When given, the exact number of records each file must hold.</param>
    /// <returns>Images (N, 3, H, W) uint8 and labels (N) int64; the caller owns both.</returns>
    public static (Tensor Images, Tensor Labels) Read(IReadOnlyList<string> paths, int height, int width, int classCount, int? expectedRecords = null)
    {
        ArgumentNullException.ThrowIfNull(paths);
        int recordSize = 1 + 3 * height * width;
        var blobs = new List<(string Path, byte[] Bytes)>(paths.Count);
        long total = 0;
        foreach (var path in paths)
        {
            if (!File.Exists(path)) throw new DatasetFormatException(path, "file not found");
            var bytes = File.ReadAllBytes(path);
            if (bytes.Length == 0) throw new DatasetFormatException(path, "file is empty");
            if (bytes.Length % recordSize != 0)
                throw new DatasetFormatException(path, $"size {bytes.Length} bytes is not a whole number of {recordSize}-byte records (truncated or wrong image size?)");
            int records = bytes.Length / recordSize;
            if (expectedRecords is int expected && records != expected)
                throw new DatasetFormatException(path, $"holds {records} records; expected {expected}");
            for (int r = 0; r < records; r++)
            {
                byte label = bytes[(long)r * recordSize];
                if (label >= classCount)
                    throw new DatasetFormatException(path, $"record {r} has label {label}; labels must be below {classCount}");
            }
            blobs.Add((path, bytes));
            total += records;
        }

        var pixels = new byte[total * (recordSize - 1)];
        var labels = new long[total];
        long n = 0;
        foreach (var (_, bytes) in blobs)
        {
            int records = bytes.Length / recordSize;
            for (int r = 0; r < records; r++, n++)
            {
                long offset = (long)r * recordSize;
                labels[n] = bytes[offset];
                Buffer.BlockCopy(bytes, (int)offset + 1, pixels, (int)(n * (recordSize - 1)), recordSize - 1);
            }
        }
        var images = tensor(pixels, new long[] { total, 3, height, width }, ScalarType.Byte);
        return (images, tensor(labels, ScalarType.Int64));
    }

    /// <summary>
    /// Writes images (N, 3, H, W) uint8 and labels (N) int64 as records, atomically: the data go to a
    /// temporary file that replaces <paramref name="path"/> only when complete.
    /// </summary>
    public static void Write(string path, Tensor images, Tensor labels)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        if (images.dtype != ScalarType.Byte || images.dim() != 4 || images.shape[1] != 3)
            throw new ArgumentException($"images must be uint8 (N, 3, H, W); got {images.dtype} ({string.Join(", ", images.shape)})", nameof(images));
        long n = images.shape[0];
        int plane = (int)(3 * images.shape[2] * images.shape[3]);
        var pixels = images.contiguous().data<byte>().ToArray();
        var labelValues = labels.to(ScalarType.Int64).data<long>().ToArray();
        if (labelValues.Length != n) throw new ArgumentException($"labels must hold {n} values; got {labelValues.Length}", nameof(labels));
        AtomicFile.Write(path, stream =>
        {
            for (long i = 0; i < n; i++)
            {
                if (labelValues[i] is < 0 or > 255) throw new ArgumentException($"label {labelValues[i]} at {i} does not fit a byte", nameof(labels));
                stream.WriteByte((byte)labelValues[i]);
                stream.Write(pixels, (int)(i * plane), plane);
            }
        });
    }
}
